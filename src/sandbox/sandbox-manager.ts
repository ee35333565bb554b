import { createHash, randomBytes } from 'node:crypto';
import { AgentClient, type OutputEvent } from '../agent/agent-client.js';
import {
  DeleteResultSchema,
  ExecResultSchema,
  FileEntrySchema,
  HelloResultSchema,
  ListResultSchema,
  ReadResultSchema,
  RenameResultSchema,
  ShellResultSchema,
  WriteResultSchema,
  type AgentExecResult,
  type AgentShellResult,
  type FileEntry,
  type ListResult,
} from '../agent/protocol.js';
import type { Config } from '../config.js';
import { BerthError, sandboxNotFound, toBerthError } from '../errors.js';
import type { Logger } from '../log.js';
import { LABELS, type RuntimeDriver, type SessionInfo } from '../runtime/driver.js';
import { transition, type LifecycleEvent } from './lifecycle.js';
import { toWorkspacePath } from './paths.js';
import type { SandboxRecord, SandboxStore } from './sandbox-store.js';

/** What callers see of a sandbox. */
export interface SandboxView {
  sandbox_id: string;
  name: string | null;
  status: SandboxRecord['status'];
  image: string;
  current_session_id: string | null;
  created_at: string;
  last_active_at: string;
  expires_at: string | null;
  idle_timeout_s: number;
  metadata: Record<string, string>;
}

export interface CreateOptions {
  name?: string;
  /** Seconds until auto-delete; 0 never; undefined uses the server default. */
  ttlS?: number;
  /** Seconds of inactivity until auto-stop; 0 never; undefined uses the server default. */
  idleTimeoutS?: number;
  metadata?: Record<string, string>;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Seconds; clamped to the configured maximum. */
  timeoutS?: number;
  onOutput?: (event: OutputEvent) => void;
}

export type ExecResult = AgentExecResult & { session_id: string };
export type ShellResult = AgentShellResult & { session_id: string };

export interface FileContent {
  path: string;
  size: number;
  offset: number;
  bytes: Buffer;
  sha256: string;
  mtime_ms: number;
}

interface LiveSession {
  sessionId: string;
  containerId: string;
  client: AgentClient;
}

export interface ManagerDeps {
  store: SandboxStore;
  driver: RuntimeDriver;
  config: Config;
  logger: Logger;
}

/** Seconds a container may linger before reconciliation treats it as an orphan (avoids racing a creator). */
const ORPHAN_GRACE_MS = 60_000;

/**
 * The domain: sandbox lifecycle with lazy start, per-sandbox single flight, the seed's stop/resume
 * semantics, policies (idle stop, TTL) and reconciliation. It imports no adapter: the registry and
 * the runtime come in through their ports.
 */
export class SandboxManager {
  private readonly store: SandboxStore;
  private readonly driver: RuntimeDriver;
  private readonly config: Config;
  private readonly log: Logger;
  private readonly live = new Map<string, LiveSession>();
  private readonly starting = new Map<string, Promise<LiveSession>>();
  private readonly busy = new Map<string, number>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(deps: ManagerDeps) {
    this.store = deps.store;
    this.driver = deps.driver;
    this.config = deps.config;
    this.log = deps.logger;
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  async create(options: CreateOptions = {}): Promise<SandboxView> {
    if (this.store.count() >= this.config.maxSandboxes) {
      throw new BerthError(
        'limit_exceeded',
        `there are already ${this.config.maxSandboxes} sandboxes (BERTH_MAX_SANDBOXES); delete one you no longer need first`,
      );
    }
    validateCreateOptions(options);
    const id = newSandboxId();
    const now = Date.now();
    const ttlS = options.ttlS ?? this.config.ttlS;
    const record: SandboxRecord = {
      id,
      name: options.name ?? null,
      status: 'idle',
      image: this.config.image,
      volume: `berth-ws-${id}`,
      currentSessionId: null,
      containerId: null,
      createdAtMs: now,
      updatedAtMs: now,
      lastActiveAtMs: now,
      idleTimeoutS: options.idleTimeoutS ?? null,
      expiresAtMs: ttlS > 0 ? now + ttlS * 1000 : null,
      metadata: options.metadata ?? {},
    };
    // The row first: reconciliation removes volumes whose row is missing, never the other way.
    this.store.insert(record);
    try {
      await this.driver.createVolume(record.volume, {
        [LABELS.managed]: 'true',
        [LABELS.registry]: this.store.registryId,
        [LABELS.sandbox]: id,
      });
    } catch (error) {
      this.store.remove(id);
      throw error;
    }
    this.log.info({ sandbox: id }, 'sandbox created');
    return this.view(record);
  }

  list(options: { limit?: number; offset?: number } = {}): { sandboxes: SandboxView[]; total: number } {
    return { sandboxes: this.store.list(options).map((r) => this.view(r)), total: this.store.count() };
  }

  /** One page in id order: `cursor` is the last id of the previous page. */
  page(options: { cursor?: string; limit: number; status?: SandboxRecord['status'][] }): { sandboxes: SandboxView[]; nextCursor: string | null } {
    const wanted = options.status;
    const rows = this.store
      .listAfter(options.cursor, wanted ? 1_000_000 : options.limit + 1)
      .filter((r) => r.status !== 'deleting' && (!wanted || wanted.includes(r.status)));
    const page = rows.slice(0, options.limit);
    const last = page[page.length - 1];
    return { sandboxes: page.map((r) => this.view(r)), nextCursor: rows.length > options.limit && last ? last.id : null };
  }

  /** Counts as activity: postpones the idle stop. Starts nothing. */
  keepalive(id: string): SandboxView {
    this.require(id);
    this.store.update(id, { lastActiveAtMs: Date.now() });
    return this.get(id);
  }

  /** Moves the expiry of a sandbox that has a TTL further out by `seconds`. */
  extendTtl(id: string, seconds: number): SandboxView {
    const record = this.require(id);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new BerthError('invalid_argument', 'extend_by must be a positive number of seconds');
    if (record.expiresAtMs === null) throw new BerthError('conflict', 'this sandbox has no TTL, so there is nothing to extend', { details: { sandbox_id: id } });
    if (record.expiresAtMs <= Date.now()) throw new BerthError('conflict', 'this sandbox has already expired', { details: { sandbox_id: id } });
    this.store.update(id, { expiresAtMs: record.expiresAtMs + seconds * 1000 });
    return this.get(id);
  }

  get(id: string): SandboxView {
    return this.view(this.require(id));
  }

  /**
   * Returns the sandbox's live session, starting a container (and a kernel) when there is none.
   * Concurrent callers share one start; a container left running by an earlier Berth process
   * (or another process on the same registry) is adopted, kernel state and all.
   */
  async ensureRunning(id: string, signal?: AbortSignal): Promise<LiveSession> {
    const record = this.require(id);
    const live = this.live.get(id);
    if (live && !live.client.closed && live.sessionId === record.currentSessionId) return live;
    let pending = this.starting.get(id);
    if (!pending) {
      // The start is shared by every caller that arrives meanwhile, so no single caller's signal
      // may abort it; it is bounded by the startup timeout instead. A caller that gives up only
      // stops waiting.
      pending = this.startOrAdopt(record).finally(() => this.starting.delete(id));
      this.starting.set(id, pending);
    }
    return signal ? abandonable(pending, signal) : pending;
  }

  async stop(id: string): Promise<SandboxView> {
    this.require(id);
    await this.starting.get(id)?.catch(() => undefined);
    // Read the record after a start in flight settled: the session it began is the one to end.
    const record = this.require(id);
    this.setStatus(id, 'stop');
    const live = this.live.get(id);
    this.live.delete(id);
    live?.client.close();
    try {
      await this.driver.removeSession(containerName(id));
    } catch (error) {
      this.setStatus(id, 'stopped');
      throw error;
    }
    if (record.currentSessionId) this.store.endSession(record.currentSessionId, Date.now());
    this.store.update(id, { status: transition('stopping', 'stopped'), currentSessionId: null, containerId: null });
    this.log.info({ sandbox: id }, 'sandbox stopped');
    return this.get(id);
  }

  async delete(id: string): Promise<void> {
    const record = this.require(id);
    this.setStatus(id, 'delete');
    await this.starting.get(id)?.catch(() => undefined);
    const live = this.live.get(id);
    this.live.delete(id);
    live?.client.close();
    await this.driver.removeSession(containerName(id));
    await this.driver.removeVolume(record.volume);
    this.store.remove(id);
    this.log.info({ sandbox: id }, 'sandbox deleted');
  }

  // ---- operations -----------------------------------------------------------------------------

  async exec(id: string, code: string, options: CallOptions = {}): Promise<ExecResult> {
    if (typeof code !== 'string') throw new BerthError('invalid_argument', 'code must be a string');
    const timeoutMs = this.timeoutMs(options.timeoutS);
    return this.withSession(id, options.signal, async (session) => {
      const result = await session.client.request(
        'exec',
        { code, timeout_ms: timeoutMs, max_output_chars: this.config.maxOutputChars, max_rich_bytes: this.config.maxRichBytes },
        ExecResultSchema,
        // The agent enforces the deadline (interrupt, then restart) after waiting up to 120 s for a
        // cold kernel; this backstop only covers an agent that stopped answering altogether.
        { signal: options.signal, onOutput: options.onOutput, timeoutMs: timeoutMs + 150_000 },
      );
      return { ...result, session_id: session.sessionId };
    });
  }

  async shell(id: string, command: string, options: CallOptions & { cwd?: string } = {}): Promise<ShellResult> {
    if (typeof command !== 'string' || command.trim() === '') throw new BerthError('invalid_argument', 'command must be a non-empty string');
    const cwd = options.cwd === undefined ? '.' : toWorkspacePath(options.cwd, 'cwd');
    const timeoutMs = this.timeoutMs(options.timeoutS);
    return this.withSession(id, options.signal, async (session) => {
      const result = await session.client.request(
        'shell',
        { command, cwd, timeout_ms: timeoutMs, max_output_chars: this.config.maxOutputChars },
        ShellResultSchema,
        { signal: options.signal, onOutput: options.onOutput, timeoutMs: timeoutMs + 30_000 },
      );
      return { ...result, session_id: session.sessionId };
    });
  }

  /** Reads a file (or a byte range of it). Whole reads over `maxBytes` fail with `file_too_large`. */
  async readFile(id: string, path: string, options: { offset?: number; length?: number; maxBytes?: number; signal?: AbortSignal } = {}): Promise<FileContent> {
    const rel = toWorkspacePath(path);
    const maxBytes = options.maxBytes ?? this.config.maxReadBytes;
    return this.withSession(id, options.signal, async (session) => {
      const result = await session.client
        .request(
        'read',
        { path: rel, offset: options.offset ?? 0, length: options.length, max_bytes: maxBytes },
        ReadResultSchema,
        { signal: options.signal, timeoutMs: 120_000 },
      )
        .catch((error: unknown) => {
          if (error instanceof BerthError && error.code === 'file_too_large') {
            throw new BerthError(
              'file_too_large',
              `${error.message}. Read it in ranges (read_file with offset and length), compress or split it in the sandbox, or fetch it through the REST download endpoint (GET /v1/sandboxes/{id}/filesystem/download), which streams.`,
              { details: error.details },
            );
          }
          throw error;
        });
      const { content_b64, ...rest } = result;
      return { ...rest, bytes: Buffer.from(content_b64, 'base64') };
    });
  }

  async writeFile(id: string, path: string, content: Buffer, options: { mode?: 'w' | 'a'; signal?: AbortSignal } = {}) {
    const rel = toWorkspacePath(path);
    if (/[\\/]$/.test(path) || rel === '.') {
      throw new BerthError('is_a_directory', `"${path}" names a directory; give the file's path, for example "${rel === '.' ? '' : `${rel}/`}file.txt"`);
    }
    if (content.length > this.config.maxWriteBytes) {
      throw new BerthError(
        'file_too_large',
        `content is ${content.length} bytes; at most ${this.config.maxWriteBytes} bytes (BERTH_MAX_WRITE_BYTES) can be written in one call. Split it and append with mode "a".`,
        { details: { size: content.length, limit: this.config.maxWriteBytes } },
      );
    }
    return this.withSession(id, options.signal, (session) =>
      session.client.request('write', { path: rel, content_b64: content.toString('base64'), mode: options.mode ?? 'w' }, WriteResultSchema, {
        signal: options.signal,
        timeoutMs: 120_000,
      }),
    );
  }

  async listFiles(id: string, path = '.', options: { recursive?: boolean; maxEntries?: number; signal?: AbortSignal } = {}): Promise<ListResult> {
    const rel = toWorkspacePath(path);
    return this.withSession(id, options.signal, (session) =>
      session.client.request('list', { path: rel, recursive: options.recursive ?? false, max_entries: options.maxEntries ?? 1000 }, ListResultSchema, {
        signal: options.signal,
        timeoutMs: 60_000,
      }),
    );
  }

  async stat(id: string, path: string, options: { sha256?: boolean; signal?: AbortSignal } = {}): Promise<FileEntry> {
    const rel = toWorkspacePath(path);
    return this.withSession(id, options.signal, (session) =>
      session.client.request('stat', { path: rel, sha256: options.sha256 ?? false }, FileEntrySchema, { signal: options.signal, timeoutMs: 60_000 }),
    );
  }

  async deleteFile(id: string, path: string, options: { recursive?: boolean; signal?: AbortSignal } = {}) {
    const rel = toWorkspacePath(path);
    if (rel === '.') throw new BerthError('invalid_path', 'refusing to delete the workspace root');
    return this.withSession(id, options.signal, (session) =>
      session.client.request('delete', { path: rel, recursive: options.recursive ?? false }, DeleteResultSchema, {
        signal: options.signal,
        timeoutMs: 120_000,
      }),
    );
  }

  /** Moves a file within the workspace, replacing the target (atomic on one filesystem). */
  async renameFile(id: string, from: string, to: string, options: { signal?: AbortSignal } = {}) {
    const src = toWorkspacePath(from);
    const dst = toWorkspacePath(to);
    return this.withSession(id, options.signal, (session) =>
      session.client.request('rename', { path: src, to: dst }, RenameResultSchema, { signal: options.signal, timeoutMs: 60_000 }),
    );
  }

  /** True when this process holds a live session for the sandbox (no container is started). */
  isLive(id: string): boolean {
    const live = this.live.get(id);
    return live !== undefined && !live.client.closed;
  }

  // ---- policies and reconciliation ------------------------------------------------------------

  /** Starts the periodic idle-stop / TTL sweep. */
  startPolicies(): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => {
      this.sweep().catch((error: unknown) => this.log.warn({ err: error }, 'policy sweep failed'));
    }, this.config.sweepIntervalS * 1000);
    this.sweepTimer.unref();
  }

  /** Stops idle sandboxes and deletes expired ones. Returns what it did. */
  async sweep(now = Date.now()): Promise<{ stopped: string[]; deleted: string[] }> {
    const stopped: string[] = [];
    const deleted: string[] = [];
    for (const record of this.store.list()) {
      if ((this.busy.get(record.id) ?? 0) > 0) continue;
      try {
        if (record.expiresAtMs !== null && record.expiresAtMs <= now) {
          await this.delete(record.id);
          deleted.push(record.id);
          continue;
        }
        const idleS = record.idleTimeoutS ?? this.config.idleTimeoutS;
        if (record.status === 'running' && idleS > 0 && now - record.lastActiveAtMs >= idleS * 1000) {
          await this.stop(record.id);
          stopped.push(record.id);
        }
      } catch (error) {
        this.log.warn({ sandbox: record.id, err: error }, 'policy action failed');
      }
    }
    return { stopped, deleted };
  }

  /**
   * Brings registry and engine into agreement: removes containers and volumes of this registry
   * whose sandbox is gone, and marks sandboxes whose container vanished as idle.
   */
  async reconcile(now = Date.now()): Promise<{ removedContainers: number; removedVolumes: number; markedIdle: number }> {
    const objects = await this.driver.listObjects(this.store.registryId);
    let removedContainers = 0;
    let removedVolumes = 0;
    let markedIdle = 0;
    for (const session of objects.sessions) {
      const record = this.store.find(session.sandboxId);
      const orphan = !record || record.status === 'deleting';
      const stale = record && !session.running && !this.starting.has(record.id);
      if ((orphan && now - session.createdAtMs > ORPHAN_GRACE_MS) || stale) {
        await this.driver.removeSession(session.containerId);
        removedContainers++;
      }
    }
    for (const volume of objects.volumes) {
      if (!this.store.find(volume.sandboxId) && now - volume.createdAtMs > ORPHAN_GRACE_MS) {
        await this.driver.removeVolume(volume.name);
        removedVolumes++;
      }
    }
    const running = new Set(objects.sessions.filter((s) => s.running).map((s) => s.sandboxId));
    for (const record of this.store.list()) {
      // 'stopping' too: a process that died in the middle of a stop leaves that status behind.
      const active = record.status === 'running' || record.status === 'starting' || record.status === 'stopping';
      if (active && !running.has(record.id) && !this.starting.has(record.id)) {
        if (record.currentSessionId) this.store.endSession(record.currentSessionId, now);
        this.store.update(record.id, { status: 'idle', currentSessionId: null, containerId: null });
        markedIdle++;
      }
    }
    return { removedContainers, removedVolumes, markedIdle };
  }

  /** Closes this process's agent connections. Containers keep running; the next process adopts them. */
  close(): void {
    this.closing = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const live of this.live.values()) live.client.close();
    this.live.clear();
  }

  // ---- internals ------------------------------------------------------------------------------

  private require(id: string): SandboxRecord {
    if (typeof id !== 'string' || id === '') throw new BerthError('invalid_argument', 'sandbox_id must be a non-empty string');
    const record = this.store.find(id);
    if (!record || record.status === 'deleting') throw sandboxNotFound(id);
    return record;
  }

  private setStatus(id: string, event: LifecycleEvent): void {
    const record = this.require(id);
    this.store.update(id, { status: transition(record.status, event) });
  }

  private timeoutMs(timeoutS: number | undefined): number {
    const s = timeoutS ?? this.config.execTimeoutS;
    if (!Number.isFinite(s) || s <= 0) throw new BerthError('invalid_argument', 'timeout must be a positive number of seconds');
    return Math.round(Math.min(s, this.config.maxExecTimeoutS) * 1000);
  }

  private async withSession<T>(id: string, signal: AbortSignal | undefined, fn: (session: LiveSession) => Promise<T>): Promise<T> {
    this.busy.set(id, (this.busy.get(id) ?? 0) + 1);
    try {
      const session = await this.ensureRunning(id, signal);
      this.store.update(id, { lastActiveAtMs: Date.now() });
      try {
        return await fn(session);
      } catch (error) {
        if (error instanceof BerthError && error.code === 'sandbox_unavailable' && !this.store.find(id)) throw sandboxNotFound(id);
        throw error;
      }
    } finally {
      const n = (this.busy.get(id) ?? 1) - 1;
      if (n <= 0) this.busy.delete(id);
      else this.busy.set(id, n);
      if (this.store.find(id)) this.store.update(id, { lastActiveAtMs: Date.now() });
    }
  }

  private async startOrAdopt(record: SandboxRecord): Promise<LiveSession> {
    const log = this.log.child({ sandbox: record.id });
    const name = containerName(record.id);
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.driver.findSession(name);
      if (existing?.running) {
        try {
          return await this.adopt(record, existing);
        } catch (error) {
          log.warn({ err: error }, 'could not adopt the running container; starting a new one');
          await this.driver.removeSession(existing.containerId);
        }
      } else if (existing) {
        await this.driver.removeSession(existing.containerId);
      }
      try {
        return await this.startNew(record);
      } catch (error) {
        // Another process created the container first: adopt it on the next round.
        if (error instanceof BerthError && error.code === 'conflict') continue;
        throw error;
      }
    }
    throw new BerthError('conflict', 'the sandbox kept being started by another process; try again');
  }

  private async adopt(record: SandboxRecord, info: SessionInfo): Promise<LiveSession> {
    const client = await this.connect(info.containerId);
    const session: LiveSession = { sessionId: info.sessionId, containerId: info.containerId, client };
    this.track(record.id, session);
    const current = this.store.find(record.id);
    if (current && current.currentSessionId !== info.sessionId) {
      this.store.insertSession({ id: info.sessionId, sandboxId: record.id, containerId: info.containerId, startedAtMs: Date.now(), endedAtMs: null });
    }
    this.store.update(record.id, { status: transition(current?.status ?? 'idle', 'adopt'), currentSessionId: info.sessionId, containerId: info.containerId });
    this.log.info({ sandbox: record.id, session: info.sessionId }, 'adopted running sandbox container');
    return session;
  }

  private async startNew(record: SandboxRecord): Promise<LiveSession> {
    const log = this.log.child({ sandbox: record.id });
    const sessionId = newSessionId();
    const startedAt = Date.now();
    this.store.update(record.id, { status: transition(this.require(record.id).status, 'start'), currentSessionId: sessionId, containerId: null });
    this.store.insertSession({ id: sessionId, sandboxId: record.id, containerId: null, startedAtMs: startedAt, endedAtMs: null });
    let containerId: string | undefined;
    try {
      if (!(await this.driver.imageExists(record.image))) {
        throw new BerthError(
          'image_not_found',
          `the sandbox image ${record.image} is not on the Docker engine. Build it with \`berth image build\` (or set BERTH_IMAGE), then retry.`,
        );
      }
      const info = await this.driver.startSession(
        {
          sandboxId: record.id,
          sessionId,
          registryId: this.store.registryId,
          name: containerName(record.id),
          volume: record.volume,
          image: record.image,
          memoryBytes: this.config.memoryBytes,
          cpus: this.config.cpus,
          pidsLimit: this.config.pidsLimit,
          tmpfsBytes: this.config.tmpfsBytes,
          network: this.config.network,
          readOnlyRoot: this.config.readOnlyRoot,
          idleExitS: record.idleTimeoutS ?? this.config.idleTimeoutS,
        },
        AbortSignal.timeout(this.config.startupTimeoutS * 1000),
      );
      containerId = info.containerId;
      const client = await this.connect(containerId);
      const session: LiveSession = { sessionId, containerId, client };
      if (!this.store.find(record.id)) {
        client.close();
        throw sandboxNotFound(record.id);
      }
      this.track(record.id, session);
      this.store.insertSession({ id: sessionId, sandboxId: record.id, containerId, startedAtMs: startedAt, endedAtMs: null });
      this.store.update(record.id, { status: transition('starting', 'started'), containerId });
      log.info({ session: sessionId, ms: Date.now() - startedAt }, 'session started');
      return session;
    } catch (error) {
      const berthError = toBerthError(error);
      if (berthError.code !== 'conflict' && containerId) await this.driver.removeSession(containerId).catch(() => undefined);
      this.store.endSession(sessionId, Date.now());
      if (this.store.find(record.id)) this.store.update(record.id, { status: 'idle', currentSessionId: null, containerId: null });
      if (berthError.code !== 'conflict') log.warn({ err: berthError.message }, 'session start failed');
      throw berthError;
    }
  }

  /** Opens a relay to the container's agent and waits for its hello, within the startup timeout. */
  private async connect(containerId: string): Promise<AgentClient> {
    const timeout = AbortSignal.timeout(this.config.startupTimeoutS * 1000);
    const channel = await this.driver.connect(containerId, timeout);
    const client = new AgentClient(channel);
    try {
      await client.request('hello', {}, HelloResultSchema, { signal: timeout });
    } catch (error) {
      client.close();
      if (timeout.aborted) {
        throw new BerthError('timeout', `the sandbox agent did not answer within ${this.config.startupTimeoutS} s (BERTH_STARTUP_TIMEOUT_S)`, {
          cause: error,
        });
      }
      throw error;
    }
    return client;
  }

  private async markIdleIfGone(sandboxId: string, sessionId: string): Promise<void> {
    try {
      // A container being killed still reads as running for a moment: look again before
      // concluding that only the connection dropped (then the next call re-adopts it).
      for (let attempt = 0; attempt < 10; attempt++) {
        const info = await this.driver.findSession(containerName(sandboxId));
        if (!info?.running || info.sessionId !== sessionId) break;
        if (attempt === 9) return;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const record = this.store.find(sandboxId);
      if (!record || record.currentSessionId !== sessionId || this.starting.has(sandboxId)) return;
      this.store.endSession(sessionId, Date.now());
      this.store.update(sandboxId, { status: transition(record.status, 'session_lost'), currentSessionId: null, containerId: null });
    } catch (error) {
      this.log.debug({ sandbox: sandboxId, err: error }, 'could not check a closed session');
    }
  }

  private track(sandboxId: string, session: LiveSession): void {
    this.live.set(sandboxId, session);
    session.client.onClose(() => {
      if (this.live.get(sandboxId) !== session) return;
      this.live.delete(sandboxId);
      this.log.info({ sandbox: sandboxId, session: session.sessionId }, 'agent connection closed');
      if (this.closing) return;
      // The container may have ended by itself (crash, idle exit, removed by hand): if so the
      // registry must stop saying it runs.
      void this.markIdleIfGone(sandboxId, session.sessionId);
    });
  }

  private view(record: SandboxRecord): SandboxView {
    return {
      sandbox_id: record.id,
      name: record.name,
      status: record.status,
      image: record.image,
      current_session_id: record.currentSessionId,
      created_at: new Date(record.createdAtMs).toISOString(),
      last_active_at: new Date(record.lastActiveAtMs).toISOString(),
      expires_at: record.expiresAtMs === null ? null : new Date(record.expiresAtMs).toISOString(),
      idle_timeout_s: record.idleTimeoutS ?? this.config.idleTimeoutS,
      metadata: record.metadata,
    };
  }
}

export function containerName(sandboxId: string): string {
  return `berth-${sandboxId}`;
}

/** Longest TTL or idle timeout accepted: one year. */
const MAX_LIFETIME_S = 31_536_000;

const ID_ALPHABET = 'abcdefghijkmnopqrstuvwxyz23456789';

function randomId(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ID_ALPHABET[b % ID_ALPHABET.length];
  return out;
}

export function newSandboxId(): string {
  return `sbx_${randomId(12)}`;
}

function newSessionId(): string {
  return `ses_${randomId(12)}`;
}

function validateCreateOptions(options: CreateOptions): void {
  if (options.name !== undefined && (typeof options.name !== 'string' || options.name.length > 200)) {
    throw new BerthError('invalid_argument', 'name must be a string of at most 200 characters');
  }
  for (const [key, value] of [
    ['ttl', options.ttlS],
    ['idle_timeout', options.idleTimeoutS],
  ] as const) {
    if (value !== undefined && (!Number.isFinite(value) || value < 0 || value > MAX_LIFETIME_S)) {
      throw new BerthError('invalid_argument', `${key} must be a number of seconds from 0 to ${MAX_LIFETIME_S} (0 means never)`);
    }
  }
}

/** Waits for `promise` unless `signal` aborts first; the promise itself goes on. */
function abandonable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new BerthError('cancelled', 'the call was cancelled'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new BerthError('cancelled', 'the call was cancelled while the sandbox was starting'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** sha256 of bytes, hex. */
export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
