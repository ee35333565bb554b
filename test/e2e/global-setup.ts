import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { sweepAllTestRegistries } from './harness.js';

/**
 * e2e tests need a real Docker engine, the built server and the sandbox image. When any is
 * missing the run fails here with what to do — it never skips.
 */
export default function setup(): () => void {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe', timeout: 20_000 });
  } catch (error) {
    throw new Error(`e2e tests need a running Docker engine (docker info failed: ${(error as Error).message.split('\n')[0]}). Run \`npm run setup\`.`);
  }
  if (!existsSync('dist/cli.js')) throw new Error('e2e tests run the built server: run `npm run build` first (npm test does).');
  try {
    execFileSync(process.execPath, ['dist/cli.js', 'image', 'status'], { stdio: 'pipe', timeout: 30_000 });
  } catch {
    throw new Error('the sandbox image is missing or stale: run `node dist/cli.js image build` (npm run setup does).');
  }
  sweepAllTestRegistries();
  // Leftovers of every e2e registry are swept even when a test crashed before its own cleanup.
  return () => sweepAllTestRegistries();
}
