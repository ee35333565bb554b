import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { BerthError } from './errors.js';
import { VERSION } from './version.js';

const MiB = 1024 * 1024;

/** Parses sizes such as `512m`, `1g`, `7340032`, `64k` into bytes. */
export function parseBytes(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(value);
  if (!match) throw new Error(`not a size: "${value}" (use bytes or a suffix k, m, g)`);
  const unit = { '': 1, k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB }[(match[2] ?? '').toLowerCase()] ?? 1;
  return Math.floor(Number(match[1]) * unit);
}

const bool = z
  .union([z.boolean(), z.string()])
  .transform((v) => (typeof v === 'boolean' ? v : ['1', 'true', 'yes', 'on'].includes(v.trim().toLowerCase())));
// zod 4 does not catch errors thrown in a transform, so a bad size becomes an issue, not a throw.
const bytes = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0) return v;
    ctx.addIssue({ code: 'custom', message: 'must be a whole number of bytes >= 0' });
    return z.NEVER;
  }
  try {
    return parseBytes(v);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});
const seconds = z.coerce.number().nonnegative();

/**
 * Every setting, resolved once. Each has an environment variable (see README, "Settings");
 * units are in the names.
 */
export const ConfigSchema = z.object({
  /** Directory for Berth's own state. Env BERTH_HOME, default ~/.berth. */
  home: z.string().min(1),
  /** SQLite registry file. Env BERTH_DB, default $BERTH_HOME/berth.db. */
  dbPath: z.string().min(1),
  /** Sandbox image. Env BERTH_IMAGE. */
  image: z.string().min(1),
  /** Default and maximum execution timeouts. Env BERTH_EXEC_TIMEOUT_S (120), BERTH_MAX_EXEC_TIMEOUT_S (3600). */
  execTimeoutS: seconds.refine((v) => v > 0),
  maxExecTimeoutS: seconds.refine((v) => v > 0),
  /** Output kept per call (head and tail), in characters. Env BERTH_MAX_OUTPUT_CHARS (50000). */
  maxOutputChars: z.coerce.number().int().min(256),
  /** Largest file returned inline by read_file/download. Env BERTH_MAX_READ_BYTES (7 MiB). */
  maxReadBytes: bytes,
  /** Largest content accepted by write_file/upload. Env BERTH_MAX_WRITE_BYTES (7 MiB). */
  maxWriteBytes: bytes,
  /** Rich output (images, HTML) kept per execution. Env BERTH_MAX_RICH_BYTES (4 MiB). */
  maxRichBytes: bytes,
  /** Memory limit per sandbox. Env BERTH_MEMORY (1g). */
  memoryBytes: bytes,
  /** CPU limit per sandbox, in CPUs. Env BERTH_CPUS (1). */
  cpus: z.coerce.number().positive(),
  /** Process limit per sandbox. Env BERTH_PIDS_LIMIT (256). */
  pidsLimit: z.coerce.number().int().positive(),
  /** Size of the /tmp and HOME tmpfs mounts. Env BERTH_TMPFS_SIZE (256m). */
  tmpfsBytes: bytes,
  /** Docker network for sandboxes; `none` means no network. Env BERTH_NETWORK (none). */
  network: z.string().min(1),
  /** Read-only root filesystem. Env BERTH_READ_ONLY_ROOT (true). */
  readOnlyRoot: bool,
  /** Stop a sandbox after this long without calls; 0 disables. Env BERTH_IDLE_TIMEOUT_S (1800). */
  idleTimeoutS: seconds,
  /** Delete a sandbox this long after creation; 0 disables. Env BERTH_TTL_S (0). */
  ttlS: seconds,
  /** Most sandboxes in the registry at once. Env BERTH_MAX_SANDBOXES (100). */
  maxSandboxes: z.coerce.number().int().positive(),
  /** How long a container may take until its agent answers. Env BERTH_STARTUP_TIMEOUT_S (60). */
  startupTimeoutS: seconds.refine((v) => v > 0),
  /** How often idle/TTL policies run. Env BERTH_SWEEP_INTERVAL_S (30). */
  sweepIntervalS: seconds.refine((v) => v > 0),
  /** HTTP bind address for `berth serve`. Env BERTH_HOST (127.0.0.1). */
  host: z.string().min(1),
  /** HTTP port for `berth serve`; 0 picks a free one. Env BERTH_PORT (8765). */
  port: z.coerce.number().int().min(0).max(65535),
  /** Bearer token for the HTTP fronts. Env BERTH_TOKEN; when unset, one is generated and printed once. */
  token: z.string().min(16).optional(),
  /** Turn off bearer auth (loopback binds only). Env BERTH_AUTH=none. */
  authDisabled: bool,
  /** Extra Host header values accepted (DNS-rebinding guard). Env BERTH_ALLOWED_HOSTS, comma-separated. */
  allowedHosts: z.array(z.string()),
  /** Extra Origin values accepted. Env BERTH_ALLOWED_ORIGINS, comma-separated. */
  allowedOrigins: z.array(z.string()),
  /** Largest REST multipart upload (streamed to the sandbox in chunks). Env BERTH_MAX_UPLOAD_BYTES (100 MiB). */
  maxUploadBytes: bytes,
  /** pino level. Env BERTH_LOG_LEVEL (info). */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
});

export type Config = z.infer<typeof ConfigSchema>;

export const DEFAULT_IMAGE = `berth-sandbox:${VERSION}`;

/** The environment variable behind each setting, for error messages. */
const ENV_NAMES: Partial<Record<keyof Config, string>> = {
  home: 'BERTH_HOME',
  dbPath: 'BERTH_DB',
  image: 'BERTH_IMAGE',
  execTimeoutS: 'BERTH_EXEC_TIMEOUT_S',
  maxExecTimeoutS: 'BERTH_MAX_EXEC_TIMEOUT_S',
  maxOutputChars: 'BERTH_MAX_OUTPUT_CHARS',
  maxReadBytes: 'BERTH_MAX_READ_BYTES',
  maxWriteBytes: 'BERTH_MAX_WRITE_BYTES',
  maxRichBytes: 'BERTH_MAX_RICH_BYTES',
  memoryBytes: 'BERTH_MEMORY',
  cpus: 'BERTH_CPUS',
  pidsLimit: 'BERTH_PIDS_LIMIT',
  tmpfsBytes: 'BERTH_TMPFS_SIZE',
  network: 'BERTH_NETWORK',
  readOnlyRoot: 'BERTH_READ_ONLY_ROOT',
  idleTimeoutS: 'BERTH_IDLE_TIMEOUT_S',
  ttlS: 'BERTH_TTL_S',
  maxSandboxes: 'BERTH_MAX_SANDBOXES',
  startupTimeoutS: 'BERTH_STARTUP_TIMEOUT_S',
  sweepIntervalS: 'BERTH_SWEEP_INTERVAL_S',
  logLevel: 'BERTH_LOG_LEVEL',
  host: 'BERTH_HOST',
  port: 'BERTH_PORT',
  token: 'BERTH_TOKEN',
  maxUploadBytes: 'BERTH_MAX_UPLOAD_BYTES',
};

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** Resolves the configuration from the environment (and optional overrides), validated. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof Config, unknown>> = {}): Config {
  const home = env.BERTH_HOME ?? join(homedir(), '.berth');
  const raw = {
    home,
    dbPath: env.BERTH_DB ?? join(home, 'berth.db'),
    image: env.BERTH_IMAGE ?? DEFAULT_IMAGE,
    execTimeoutS: env.BERTH_EXEC_TIMEOUT_S ?? 120,
    maxExecTimeoutS: env.BERTH_MAX_EXEC_TIMEOUT_S ?? 3600,
    maxOutputChars: env.BERTH_MAX_OUTPUT_CHARS ?? 50_000,
    maxReadBytes: env.BERTH_MAX_READ_BYTES ?? 7 * MiB,
    maxWriteBytes: env.BERTH_MAX_WRITE_BYTES ?? 7 * MiB,
    maxRichBytes: env.BERTH_MAX_RICH_BYTES ?? 4 * MiB,
    memoryBytes: env.BERTH_MEMORY ?? 1024 * MiB,
    cpus: env.BERTH_CPUS ?? 1,
    pidsLimit: env.BERTH_PIDS_LIMIT ?? 256,
    tmpfsBytes: env.BERTH_TMPFS_SIZE ?? 256 * MiB,
    network: env.BERTH_NETWORK ?? 'none',
    readOnlyRoot: env.BERTH_READ_ONLY_ROOT ?? true,
    idleTimeoutS: env.BERTH_IDLE_TIMEOUT_S ?? 1800,
    ttlS: env.BERTH_TTL_S ?? 0,
    maxSandboxes: env.BERTH_MAX_SANDBOXES ?? 100,
    startupTimeoutS: env.BERTH_STARTUP_TIMEOUT_S ?? 60,
    sweepIntervalS: env.BERTH_SWEEP_INTERVAL_S ?? 30,
    logLevel: env.BERTH_LOG_LEVEL ?? 'info',
    host: env.BERTH_HOST ?? '127.0.0.1',
    port: env.BERTH_PORT ?? 8765,
    token: env.BERTH_TOKEN === '' ? undefined : env.BERTH_TOKEN,
    authDisabled: (env.BERTH_AUTH ?? '').toLowerCase() === 'none',
    allowedHosts: list(env.BERTH_ALLOWED_HOSTS),
    allowedOrigins: list(env.BERTH_ALLOWED_ORIGINS),
    maxUploadBytes: env.BERTH_MAX_UPLOAD_BYTES ?? 100 * MiB,
    ...overrides,
  };
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => {
        const key = String(i.path[0] ?? '');
        const env = ENV_NAMES[key as keyof Config];
        return `${env ? `${env} (${key})` : i.path.join('.')}: ${i.message}`;
      })
      .join('; ');
    throw new BerthError('invalid_argument', `invalid configuration: ${issues}`);
  }
  return parsed.data;
}
