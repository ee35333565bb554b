import { loadConfig } from './config.js';
import { toBerthError } from './errors.js';
import { DockerDriver } from './runtime/docker/docker-driver.js';
import { SqliteSandboxStore } from './store/sqlite-sandbox-store.js';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** `berth doctor`: each check with what was found and, when it fails, how to fix it. */
export async function runDoctor(): Promise<number> {
  const checks: Check[] = [];
  let config;
  try {
    config = loadConfig();
    checks.push({ name: 'configuration', ok: true, detail: `image ${config.image}, registry ${config.dbPath}` });
  } catch (error) {
    checks.push({ name: 'configuration', ok: false, detail: toBerthError(error).message, fix: 'correct the BERTH_* variable named above (see README, Settings)' });
    return report(checks);
  }
  const driver = new DockerDriver();
  let dockerUp = false;
  try {
    const info = await driver.ping(AbortSignal.timeout(5000));
    dockerUp = true;
    checks.push({ name: 'docker engine', ok: true, detail: `Docker ${info.version} (API ${info.apiVersion})${process.env.DOCKER_HOST ? ` at ${process.env.DOCKER_HOST}` : ''}` });
  } catch (error) {
    checks.push({
      name: 'docker engine',
      ok: false,
      detail: toBerthError(error).message,
      fix: 'start Docker (on Debian, `bash scripts/ensure-docker.sh` installs and starts it), or point DOCKER_HOST at a running engine',
    });
  }
  if (dockerUp) {
    try {
      const present = await driver.imageExists(config.image);
      checks.push(
        present
          ? { name: 'sandbox image', ok: true, detail: `${config.image} is present` }
          : { name: 'sandbox image', ok: false, detail: `${config.image} is missing`, fix: 'run `berth image build` (npx berth image build, or node dist/cli.js image build)' },
      );
    } catch (error) {
      checks.push({ name: 'sandbox image', ok: false, detail: toBerthError(error).message });
    }
  }
  try {
    const store = new SqliteSandboxStore(config.dbPath);
    const count = store.count();
    store.close();
    checks.push({ name: 'registry', ok: true, detail: `${config.dbPath} is writable (${count} sandboxes)` });
  } catch (error) {
    checks.push({ name: 'registry', ok: false, detail: toBerthError(error).message, fix: 'set BERTH_DB (or BERTH_HOME) to a writable location' });
  }
  return report(checks);
}

function report(checks: Check[]): number {
  for (const c of checks) {
    process.stderr.write(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}\n`);
    if (!c.ok && c.fix) process.stderr.write(`      fix: ${c.fix}\n`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  process.stderr.write(failed === 0 ? 'berth is ready\n' : `${failed} check(s) failed\n`);
  return failed === 0 ? 0 : 1;
}
