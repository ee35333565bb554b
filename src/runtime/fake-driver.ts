import { createHash, randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { AgentChannel } from '../agent/agent-client.js';
import { AGENT_PROTOCOL } from '../agent/protocol.js';
import { BerthError, type ErrorCode } from '../errors.js';
import { toWorkspacePath } from '../sandbox/paths.js';
import { LABELS, type RuntimeDriver, type RuntimeInfo, type RuntimeObjects, type SessionInfo, type SessionSpec } from './driver.js';

/**
 * An in-memory runtime for unit tests of logic: volumes hold files in a map (so they survive
 * stop/start), containers are records with a tiny fake agent behind `connect()` that speaks the
 * real JSON-lines protocol. The "kernel" is a per-container map of integer variables:
 * `x = 1` stores, `print(x)` prints or raises NameError, anything else is echoed.
 */
export class FakeDriver implements RuntimeDriver {
  readonly volumes = new Map<string, FakeVolume>();
  readonly containers = new Map<string, FakeContainer>();
  /** Containers created so far. */
  startCount = 0;
  /** Agent connections opened so far. */
  connectCount = 0;
  /** When false, `imageExists` answers false. */
  imagePresent = true;
  /** Thrown (once) by the next `startSession`. */
  failNextStart: BerthError | undefined;
  /** Delay of `startSession`, to widen race windows. */
  startDelayMs = 5;

  async ping(): Promise<RuntimeInfo> {
    return { engine: 'fake', version: '0', apiVersion: '0' };
  }

  async imageExists(): Promise<boolean> {
    return this.imagePresent;
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    if (this.volumes.has(name)) throw new BerthError('conflict', `volume ${name} exists`);
    this.volumes.set(name, { name, labels, createdAtMs: Date.now(), files: new Map() });
  }

  async removeVolume(name: string): Promise<void> {
    this.volumes.delete(name);
  }

  async startSession(spec: SessionSpec, signal?: AbortSignal): Promise<SessionInfo> {
    await new Promise((resolve) => setTimeout(resolve, this.startDelayMs));
    signal?.throwIfAborted();
    const failure = this.failNextStart;
    if (failure) {
      this.failNextStart = undefined;
      throw failure;
    }
    if (this.findByName(spec.name)) throw new BerthError('conflict', `a container named ${spec.name} exists`);
    const volume = this.volumes.get(spec.volume);
    if (!volume) throw new BerthError('internal', `no volume ${spec.volume}`);
    const container: FakeContainer = {
      id: randomUUID().replace(/-/g, ''),
      spec,
      volume,
      running: true,
      createdAtMs: Date.now(),
      vars: new Map(),
      executionCount: 0,
      channels: new Set(),
    };
    this.containers.set(container.id, container);
    this.startCount++;
    return this.info(container);
  }

  async findSession(name: string): Promise<SessionInfo | undefined> {
    const container = this.findByName(name);
    return container ? this.info(container) : undefined;
  }

  async connect(containerId: string): Promise<AgentChannel> {
    const container = this.containers.get(containerId);
    if (!container?.running) throw new BerthError('sandbox_unavailable', `container ${containerId} is not running`);
    this.connectCount++;
    return openChannel(container);
  }

  async removeSession(containerIdOrName: string): Promise<void> {
    const container = this.containers.get(containerIdOrName) ?? this.findByName(containerIdOrName);
    if (!container) return;
    this.kill(container);
    this.containers.delete(container.id);
  }

  async listObjects(registryId: string): Promise<RuntimeObjects> {
    return {
      sessions: [...this.containers.values()]
        .filter((c) => c.spec.registryId === registryId)
        .map((c) => ({ ...this.info(c), createdAtMs: c.createdAtMs })),
      volumes: [...this.volumes.values()]
        .filter((v) => v.labels[LABELS.registry] === registryId)
        .map((v) => ({ name: v.name, sandboxId: v.labels[LABELS.sandbox] ?? '', createdAtMs: v.createdAtMs })),
    };
  }

  // ---- test helpers ---------------------------------------------------------------------------

  /** The container of a sandbox (by the manager's naming), if any. */
  containerOf(sandboxId: string): FakeContainer | undefined {
    return [...this.containers.values()].find((c) => c.spec.sandboxId === sandboxId);
  }

  /** The container dies (kernel and all): its channels close, it stays listed as exited. */
  crash(sandboxId: string): void {
    const container = this.containerOf(sandboxId);
    if (container) this.kill(container);
  }

  /** Only the connections drop (a relay died); the container and its kernel live on. */
  dropConnections(sandboxId: string): void {
    const container = this.containerOf(sandboxId);
    if (container) for (const channel of [...container.channels]) channel.close();
  }

  private kill(container: FakeContainer): void {
    container.running = false;
    for (const channel of [...container.channels]) channel.close();
  }

  private findByName(name: string): FakeContainer | undefined {
    return [...this.containers.values()].find((c) => c.spec.name === name);
  }

  private info(c: FakeContainer): SessionInfo {
    return { containerId: c.id, name: c.spec.name, sandboxId: c.spec.sandboxId, sessionId: c.spec.sessionId, running: c.running };
  }
}

export interface FakeFile {
  bytes: Buffer;
  mtimeMs: number;
}

export interface FakeVolume {
  name: string;
  labels: Record<string, string>;
  createdAtMs: number;
  /** Files by path relative to /workspace; directories are implied by their files. */
  files: Map<string, FakeFile>;
}

export interface FakeContainer {
  id: string;
  spec: SessionSpec;
  volume: FakeVolume;
  running: boolean;
  createdAtMs: number;
  /** The "kernel": dies with the container. */
  vars: Map<string, string>;
  executionCount: number;
  channels: Set<AgentChannel>;
}

// ---- the fake agent ---------------------------------------------------------------------------

type Request = Record<string, unknown> & { id?: unknown; op?: unknown };
type Emit = (stream: string, text: string) => void;

class AgentFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function openChannel(container: FakeContainer): AgentChannel {
  const toAgent = new PassThrough();
  const fromAgent = new PassThrough();
  let closed = false;
  const channel: AgentChannel = {
    input: fromAgent,
    output: toAgent,
    close: () => {
      if (closed) return;
      closed = true;
      container.channels.delete(channel);
      toAgent.end();
      fromAgent.end();
    },
  };
  container.channels.add(channel);
  const send = (message: unknown) => {
    if (!closed) fromAgent.write(`${JSON.stringify(message)}\n`);
  };
  let buffer = '';
  toAgent.setEncoding('utf8');
  toAgent.on('data', (chunk: string) => {
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.trim() === '') continue;
      const req = JSON.parse(line) as Request;
      // Answer asynchronously, as a real agent over a socket would.
      setImmediate(() => {
        if (closed || !container.running) return;
        const id = typeof req.id === 'string' ? req.id : null;
        const emit: Emit = (stream, text) => {
          if (req.stream) send({ id, event: 'output', data: { stream, text } });
        };
        try {
          send({ id, ok: true, result: handle(container, req, emit) });
        } catch (error) {
          const e = error instanceof AgentFailure || error instanceof BerthError ? error : new AgentFailure('internal', String(error));
          send({ id, ok: false, error: { code: e.code, message: e.message, details: {} } });
        }
      });
    }
  });
  return channel;
}

function handle(container: FakeContainer, req: Request, emit: Emit): unknown {
  const files = container.volume.files;
  switch (req.op) {
    case 'hello':
      return { protocol: AGENT_PROTOCOL, kernel_ready: true, kernel_error: null, python: '3.11.2', pid: 1, uid: 1000 };
    case 'exec':
      return exec(container, String(req.code), emit);
    case 'shell':
      return shell(String(req.command), emit);
    case 'cancel':
      return { cancelled: false };
    case 'read': {
      const path = agentPath(req.path);
      const file = files.get(path);
      if (!file) throw isDirectory(files, path) ? new AgentFailure('is_a_directory', `${path} is a directory`) : notFound(path);
      const offset = Number(req.offset ?? 0);
      const end = req.length === undefined || req.length === null ? file.bytes.length : offset + Number(req.length);
      const data = file.bytes.subarray(offset, end);
      if (req.max_bytes !== undefined && data.length > Number(req.max_bytes)) {
        throw new AgentFailure('file_too_large', `${path} is ${file.bytes.length} bytes; at most ${Number(req.max_bytes)} bytes`);
      }
      return { path, size: file.bytes.length, offset, content_b64: data.toString('base64'), sha256: sha256(data), mtime_ms: file.mtimeMs };
    }
    case 'write': {
      const path = agentPath(req.path);
      if (path === '.' || isDirectory(files, path)) throw new AgentFailure('is_a_directory', `${path} is a directory`);
      const parents = path.split('/').slice(0, -1);
      for (let i = 1; i <= parents.length; i++) {
        if (files.has(parents.slice(0, i).join('/'))) throw new AgentFailure('not_a_directory', `a parent of ${path} is a file`);
      }
      const data = Buffer.from(typeof req.content_b64 === 'string' ? req.content_b64 : '', 'base64');
      const mode = req.mode === 'a' ? 'a' : 'w';
      const before = mode === 'a' ? (files.get(path)?.bytes ?? Buffer.alloc(0)) : Buffer.alloc(0);
      const bytes = Buffer.concat([before, data]);
      files.set(path, { bytes, mtimeMs: Date.now() });
      return { path, size: bytes.length, written: data.length, mode };
    }
    case 'stat': {
      const path = agentPath(req.path);
      const entry = statEntry(files, path);
      if (!entry) throw notFound(path);
      const file = files.get(path);
      return req.sha256 && file ? { ...entry, sha256: sha256(file.bytes) } : entry;
    }
    case 'list': {
      const path = agentPath(req.path ?? '.');
      if (files.has(path)) throw new AgentFailure('not_a_directory', `${path} is a file`);
      if (!isDirectory(files, path)) throw notFound(path);
      const prefix = path === '.' ? '' : `${path}/`;
      const paths = new Set<string>();
      for (const filePath of files.keys()) {
        if (!filePath.startsWith(prefix)) continue;
        const parts = filePath.slice(prefix.length).split('/');
        const depth = req.recursive ? parts.length : 1;
        for (let i = 1; i <= depth; i++) paths.add(prefix + parts.slice(0, i).join('/'));
      }
      const entries = [...paths].sort().flatMap((p) => statEntry(files, p) ?? []);
      return { path, entries, truncated: false };
    }
    case 'delete': {
      const path = agentPath(req.path);
      if (files.delete(path)) return { path, deleted: true, type: 'file' };
      if (!isDirectory(files, path)) throw notFound(path);
      if (!req.recursive) throw new AgentFailure('is_a_directory', `${path} is a non-empty directory; pass recursive: true`);
      for (const filePath of [...files.keys()]) if (filePath.startsWith(`${path}/`)) files.delete(filePath);
      return { path, deleted: true, type: 'directory' };
    }
    default:
      throw new AgentFailure('invalid_argument', `unknown op ${JSON.stringify(req.op)}`);
  }
}

function exec(container: FakeContainer, code: string, emit: Emit) {
  const count = ++container.executionCount;
  const base = {
    results: [],
    execution_count: count,
    duration_ms: 1,
    truncated: false,
    rich_dropped: 0,
    timed_out: false,
    cancelled: false,
    kernel_restarted: false,
  };
  const ok = (output: string) => ({ ...base, success: true, output, error: null, error_name: null, error_value: null });
  const assign = /^\s*([A-Za-z_]\w*)\s*=\s*(-?\d+)\s*$/.exec(code);
  if (assign) {
    container.vars.set(assign[1] ?? '', assign[2] ?? '');
    return ok('');
  }
  const print = /^\s*print\(\s*([A-Za-z_]\w*)\s*\)\s*$/.exec(code);
  if (print) {
    const name = print[1] ?? '';
    const value = container.vars.get(name);
    if (value === undefined) {
      const traceback = `Traceback (most recent call last):\n  Cell In[${count}], line 1\nNameError: name '${name}' is not defined`;
      return { ...base, success: false, output: traceback, error: traceback, error_name: 'NameError', error_value: `name '${name}' is not defined` };
    }
    emit('stdout', `${value}\n`);
    return ok(`${value}\n`);
  }
  emit('stdout', code);
  return ok(code);
}

/** `echo …` prints, `exit N` exits with N, anything else is "command not found". */
function shell(command: string, emit: Emit) {
  const result = { exit_code: 0, stdout: '', stderr: '', timed_out: false, truncated: false, duration_ms: 1 };
  const echo = /^\s*echo\s?(.*)$/.exec(command);
  const exit = /^\s*exit\s+(\d+)\s*$/.exec(command);
  if (echo) {
    result.stdout = `${echo[1] ?? ''}\n`;
    emit('stdout', result.stdout);
  } else if (exit) {
    result.exit_code = Number(exit[1]);
  } else {
    result.exit_code = 127;
    result.stderr = `bash: ${command.split(/\s/)[0] ?? ''}: command not found\n`;
  }
  return result;
}

/** The agent re-checks paths, as the real one does after realpath. */
function agentPath(input: unknown): string {
  try {
    return toWorkspacePath(input);
  } catch (error) {
    throw new AgentFailure('invalid_path', (error as Error).message);
  }
}

function isDirectory(files: Map<string, FakeFile>, path: string): boolean {
  if (path === '.') return true;
  for (const filePath of files.keys()) if (filePath.startsWith(`${path}/`)) return true;
  return false;
}

function statEntry(files: Map<string, FakeFile>, path: string) {
  const name = path.split('/').pop() ?? path;
  const file = files.get(path);
  if (file) return { name, path, type: 'file' as const, size: file.bytes.length, mtime_ms: file.mtimeMs };
  if (isDirectory(files, path)) return { name, path, type: 'directory' as const, size: 0, mtime_ms: 0 };
  return undefined;
}

function notFound(path: string): AgentFailure {
  return new AgentFailure('file_not_found', `no such file or directory: ${path}`);
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
