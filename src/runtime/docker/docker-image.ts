import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { BerthError } from '../../errors.js';
import { fromDockerError } from './docker-errors.js';

export const BASE_IMAGE = 'debian:bookworm-slim';
const CONTEXT_FILES = ['Dockerfile', 'agent/berth_agent.py', 'agent/kernel-site/debugpy/__init__.py'];
export const CONTENT_LABEL = 'berth.image.content';

/** Hash of the build context: an image labelled with it was built from exactly these files. */
export function contextHash(contextDir: string): string {
  const hash = createHash('sha256');
  for (const file of CONTEXT_FILES) hash.update(file).update('\0').update(readFileSync(join(contextDir, file)));
  return hash.digest('hex').slice(0, 16);
}

/** True when `tag` exists and was built from the current build context. */
export async function imageIsCurrent(docker: Docker, tag: string, contextDir: string): Promise<boolean> {
  try {
    const info = await docker.getImage(tag).inspect();
    return info.Config.Labels?.[CONTENT_LABEL] === contextHash(contextDir);
  } catch {
    return false;
  }
}

const DEBIAN_MIRROR = process.env.BERTH_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

export interface ImageBuildOptions {
  tag: string;
  contextDir: string;
  /** Progress lines for the terminal. */
  onLog: (line: string) => void;
}

/**
 * Builds the sandbox image. When the base image is missing and cannot be pulled (a machine with no
 * registry), the base is made locally with debootstrap and imported under the same name, so the
 * Dockerfile stays an ordinary `FROM debian:bookworm-slim`.
 */
export async function buildSandboxImage(docker: Docker, options: ImageBuildOptions): Promise<void> {
  const { onLog } = options;
  if (!existsSync(join(options.contextDir, 'Dockerfile'))) {
    throw new BerthError('invalid_argument', `no Dockerfile in ${options.contextDir}`);
  }
  await ensureBaseImage(docker, onLog);
  onLog(`building ${options.tag} from ${options.contextDir} (a few minutes the first time)`);
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(
      { context: options.contextDir, src: CONTEXT_FILES },
      { t: options.tag, networkmode: 'host', rm: true, forcerm: true, labels: { [CONTENT_LABEL]: contextHash(options.contextDir) } },
    );
  } catch (error) {
    throw fromDockerError(error, 'build the sandbox image');
  }
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, output: Array<{ error?: string }>) => {
        const failed = error ?? output.find((o) => o.error)?.error;
        if (failed) reject(new BerthError('internal', `image build failed: ${String(failed instanceof Error ? failed.message : failed)}`));
        else resolve();
      },
      (event: { stream?: string; status?: string; error?: string }) => {
        const text = (event.stream ?? event.status ?? event.error ?? '').trimEnd();
        if (text) onLog(text);
      },
    );
  });
  onLog(`built ${options.tag}`);
}

async function ensureBaseImage(docker: Docker, onLog: (line: string) => void): Promise<void> {
  try {
    await docker.getImage(BASE_IMAGE).inspect();
    return;
  } catch {
    // missing: pull, or make it
  }
  onLog(`pulling ${BASE_IMAGE}`);
  try {
    const stream = await docker.pull(BASE_IMAGE);
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())),
    );
    return;
  } catch (error) {
    onLog(`cannot pull ${BASE_IMAGE} (${(error as Error).message.split('\n')[0]}); making it with debootstrap`);
  }
  await debootstrapBase(onLog);
}

async function debootstrapBase(onLog: (line: string) => void): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'berth-rootfs-'));
  try {
    await run('debootstrap', ['--variant=minbase', 'bookworm', root, DEBIAN_MIRROR], onLog, 'install debootstrap (apt-get install debootstrap) and run as root');
    onLog(`importing ${BASE_IMAGE}`);
    await run('sh', ['-c', `tar -C '${root}' -c . | docker import - ${BASE_IMAGE}`], onLog, 'make sure the docker CLI is installed');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], onLog: (line: string) => void, hint: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const collect = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (error) => reject(new BerthError('internal', `${cmd} failed to start (${error.message}); ${hint}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else {
        onLog(tail);
        reject(new BerthError('internal', `${cmd} exited with ${code}; ${hint}`));
      }
    });
  });
}
