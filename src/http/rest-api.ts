import { randomBytes, randomUUID, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { posix } from 'node:path';
import busboy from 'busboy';
import type { Config } from '../config.js';
import { BerthError } from '../errors.js';
import { decodeBase64, decodeUtf8, mimeTypeFor } from '../mime.js';
import { sha256Hex, type ExecResult, type SandboxManager, type SandboxView } from '../sandbox/sandbox-manager.js';
import type { SandboxStatus } from '../sandbox/lifecycle.js';
import { toWorkspacePath } from '../sandbox/paths.js';
import { jsonBodyLimitBytes, readJsonBody, sendJson } from './http-util.js';
import { openApiDocument } from './openapi.js';

/** REST statuses follow the Bay API v1 vocabulary: `ready` is a running session. */
const REST_STATUS: Record<SandboxStatus, string> = { idle: 'idle', starting: 'starting', running: 'ready', stopping: 'idle', deleting: 'idle' };
const STATUS_FILTER: Record<string, SandboxStatus[]> = { idle: ['idle', 'stopping'], starting: ['starting'], ready: ['running'], running: ['running'] };
export const PROFILE = 'python-default';
const CAPABILITIES = ['python', 'shell', 'filesystem'];
/** Chunk size for streamed uploads and downloads. */
const CHUNK_BYTES = 1024 * 1024;
const IDEMPOTENCY_TTL_MS = 60 * 60 * 1000;

interface Route {
  method: string;
  pattern: RegExp;
  handler: (ctx: RequestContext, params: string[]) => Promise<void>;
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  requestId: string;
}

/**
 * The REST API v1 over the same manager as MCP. Paths, fields and status codes follow Bay API v1
 * (shipyard-neo) so that its clients work unchanged; Berth adds fields, never removes them.
 */
export class RestApi {
  private readonly routes: Route[] = [];
  private readonly idempotent = new Map<string, { fingerprint: string; status: number; body: unknown; expiresAtMs: number }>();
  private readonly jsonLimitBytes: number;

  constructor(
    private readonly manager: SandboxManager,
    private readonly config: Config,
  ) {
    this.jsonLimitBytes = jsonBodyLimitBytes(config);
    const id = '([^/]+)';
    const sb = `^/v1/sandboxes/${id}`;
    this.add('GET', '^/v1/openapi\\.json$', async (c) => sendJson(c.res, 200, openApiDocument(this.config, `http://${c.req.headers.host ?? `${this.config.host}:${this.config.port}`}`)));
    this.add('GET', '^/v1/profiles$', async (c) => sendJson(c.res, 200, { items: [this.profile()] }));
    this.add('POST', '^/v1/sandboxes$', (c) => this.create(c));
    this.add('GET', '^/v1/sandboxes$', (c) => this.list(c));
    this.add('GET', `${sb}$`, async (c, [sid]) => sendJson(c.res, 200, this.sandbox(this.manager.get(sid!))));
    this.add('DELETE', `${sb}$`, async (c, [sid]) => {
      await this.manager.delete(sid!);
      c.res.writeHead(204).end();
    });
    this.add('POST', `${sb}/stop$`, async (c, [sid]) => {
      await this.manager.stop(sid!);
      sendJson(c.res, 200, { status: 'stopped' });
    });
    this.add('POST', `${sb}/keepalive$`, async (c, [sid]) => {
      this.manager.keepalive(sid!);
      sendJson(c.res, 200, { status: 'ok' });
    });
    this.add('POST', `${sb}/extend_ttl$`, async (c, [sid]) => {
      const body = await this.body(c);
      sendJson(c.res, 200, this.sandbox(this.manager.extendTtl(sid!, numberField(body, 'extend_by', true)!)));
    });
    this.add('POST', `${sb}/python/exec$`, (c, [sid]) => this.pythonExec(c, sid!));
    this.add('POST', `${sb}/shell/exec$`, (c, [sid]) => this.shellExec(c, sid!));
    this.add('GET', `${sb}/filesystem/files$`, (c, [sid]) => this.readFile(c, sid!));
    this.add('PUT', `${sb}/filesystem/files$`, (c, [sid]) => this.writeFile(c, sid!));
    this.add('DELETE', `${sb}/filesystem/files$`, async (c, [sid]) => {
      const path = queryPath(c.url);
      const result = await this.manager.deleteFile(sid!, path, { recursive: true });
      sendJson(c.res, 200, { status: 'ok', path: result.path, type: result.type });
    });
    this.add('GET', `${sb}/filesystem/directories$`, (c, [sid]) => this.listDirectory(c, sid!));
    this.add('POST', `${sb}/filesystem/upload$`, (c, [sid]) => this.upload(c, sid!));
    this.add('GET', `${sb}/filesystem/download$`, (c, [sid]) => this.download(c, sid!));
  }

  /** Handles a /v1 request; false when no route matches the path at all. */
  async handle(ctx: RequestContext): Promise<boolean> {
    const path = ctx.url.pathname.replace(/\/+$/, '') || '/';
    let pathMatched = false;
    for (const route of this.routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      pathMatched = true;
      if (route.method !== ctx.req.method) continue;
      await route.handler(ctx, match.slice(1).map((p) => decodeURIComponent(p)));
      return true;
    }
    if (pathMatched) {
      throw new BerthError('method_not_allowed', `${ctx.req.method ?? ''} is not supported on ${path}`);
    }
    return false;
  }

  private add(method: string, pattern: string, handler: Route['handler']): void {
    this.routes.push({ method, pattern: new RegExp(pattern), handler });
  }

  private async body(c: RequestContext): Promise<Record<string, unknown>> {
    const body = await readJsonBody(c.req, this.jsonLimitBytes);
    if (body === undefined) return {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BerthError('invalid_argument', 'the request body must be a JSON object');
    return body as Record<string, unknown>;
  }

  private profile() {
    return {
      id: PROFILE,
      image: this.config.image,
      resources: { cpus: this.config.cpus, memory: `${Math.round(this.config.memoryBytes / (1024 * 1024))}m` },
      capabilities: CAPABILITIES,
      idle_timeout: this.config.idleTimeoutS,
      description: 'Python 3 with IPython, numpy, pandas and matplotlib',
    };
  }

  /** The Bay sandbox object, plus Berth's own fields. */
  private sandbox(view: SandboxView) {
    const idleExpires =
      view.status === 'running' && view.idle_timeout_s > 0 ? new Date(Date.parse(view.last_active_at) + view.idle_timeout_s * 1000).toISOString() : null;
    return {
      id: view.sandbox_id,
      status: REST_STATUS[view.status],
      profile: PROFILE,
      cargo_id: `berth-ws-${view.sandbox_id}`,
      capabilities: CAPABILITIES,
      created_at: view.created_at,
      expires_at: view.expires_at,
      idle_expires_at: idleExpires,
      containers: null,
      name: view.name,
      current_session_id: view.current_session_id,
      last_active_at: view.last_active_at,
      metadata: view.metadata,
    };
  }

  private async create(c: RequestContext): Promise<void> {
    const body = await this.body(c);
    const key = header(c.req, 'idempotency-key');
    const fingerprint = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    if (key !== undefined) {
      if (!/^[A-Za-z0-9_-]{1,128}$/.test(key)) {
        throw new BerthError('conflict', 'Idempotency-Key must be 1-128 characters of letters, digits, "_" or "-"', { details: { key } });
      }
      this.expireIdempotency();
      const seen = this.idempotent.get(key);
      if (seen) {
        if (seen.fingerprint !== fingerprint) {
          throw new BerthError('conflict', 'this Idempotency-Key was already used with different request parameters', {
            details: { key, hint: 'use a new key for a different request' },
          });
        }
        sendJson(c.res, seen.status, seen.body);
        return;
      }
    }
    const profile = body.profile ?? PROFILE;
    if (profile !== PROFILE) throw new BerthError('invalid_argument', `unknown profile ${JSON.stringify(profile)}; the only profile is "${PROFILE}"`);
    const ttl = numberField(body, 'ttl', false);
    const idle = numberField(body, 'idle_timeout', false);
    const name = body.name;
    if (name !== undefined && name !== null && typeof name !== 'string') throw new BerthError('invalid_argument', 'name must be a string');
    const metadata = body.metadata;
    if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Object.values(metadata).some((v) => typeof v !== 'string'))) {
      throw new BerthError('invalid_argument', 'metadata must be an object of strings');
    }
    const view = await this.manager.create({
      ttlS: ttl === undefined || ttl === null ? undefined : Math.max(ttl, 0),
      idleTimeoutS: idle ?? undefined,
      name: typeof name === 'string' ? name : undefined,
      metadata: metadata as Record<string, string> | undefined,
    });
    const response = this.sandbox(view);
    if (key !== undefined) this.idempotent.set(key, { fingerprint, status: 201, body: response, expiresAtMs: Date.now() + IDEMPOTENCY_TTL_MS });
    sendJson(c.res, 201, response);
  }

  private expireIdempotency(): void {
    const now = Date.now();
    for (const [key, entry] of this.idempotent) if (entry.expiresAtMs <= now) this.idempotent.delete(key);
  }

  private async list(c: RequestContext): Promise<void> {
    const limitText = c.url.searchParams.get('limit');
    const limit = limitText === null ? 50 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new BerthError('invalid_argument', 'limit must be an integer from 1 to 200');
    const cursor = c.url.searchParams.get('cursor') ?? undefined;
    const statusText = c.url.searchParams.get('status');
    const status = statusText ? STATUS_FILTER[statusText] : undefined;
    if (statusText && !status) throw new BerthError('invalid_argument', `status must be one of ${Object.keys(STATUS_FILTER).join(', ')}`);
    const page = this.manager.page({ cursor, limit, status });
    sendJson(c.res, 200, { items: page.sandboxes.map((s) => this.sandbox(s)), next_cursor: page.nextCursor });
  }

  private async pythonExec(c: RequestContext, id: string): Promise<void> {
    const body = await this.body(c);
    const code = body.code;
    if (typeof code !== 'string') throw new BerthError('invalid_argument', 'code is required and must be a string');
    const timeout = numberField(body, 'timeout', false);
    const signal = abortOnClose(c);
    const result: ExecResult = await this.manager.exec(id, code, { timeoutS: timeout ?? undefined, signal });
    const images = result.results.flatMap((r) => (r.data['image/png'] ? [{ 'image/png': r.data['image/png'] }] : []));
    sendJson(c.res, 200, {
      success: result.success,
      output: result.output,
      error: result.error,
      data: { execution_count: result.execution_count, output: { text: result.output, images } },
      execution_id: randomUUID(),
      execution_time_ms: result.duration_ms,
      ...(body.include_code === true ? { code } : {}),
      results: result.results,
      execution_count: result.execution_count,
      duration_ms: result.duration_ms,
      session_id: result.session_id,
      error_name: result.error_name,
      results_dropped: result.rich_dropped,
      truncated: result.truncated,
      timed_out: result.timed_out,
      kernel_restarted: result.kernel_restarted,
    });
  }

  private async shellExec(c: RequestContext, id: string): Promise<void> {
    const body = await this.body(c);
    const command = body.command;
    if (typeof command !== 'string' || command.trim() === '') throw new BerthError('invalid_argument', 'command is required and must be a non-empty string');
    const cwd = body.cwd;
    if (cwd !== undefined && cwd !== null && typeof cwd !== 'string') throw new BerthError('invalid_argument', 'cwd must be a string');
    const timeout = numberField(body, 'timeout', false);
    const result = await this.manager.shell(id, command, { cwd: typeof cwd === 'string' ? cwd : undefined, timeoutS: timeout ?? undefined, signal: abortOnClose(c) });
    sendJson(c.res, 200, {
      success: result.exit_code === 0 && !result.timed_out,
      output: result.stdout,
      error: result.stderr !== '' ? result.stderr : result.timed_out ? `command timed out after ${timeout ?? this.config.execTimeoutS}s` : null,
      exit_code: result.exit_code,
      execution_id: randomUUID(),
      execution_time_ms: result.duration_ms,
      ...(body.include_code === true ? { command } : {}),
      stdout: result.stdout,
      stderr: result.stderr,
      timed_out: result.timed_out,
      truncated: result.truncated,
      duration_ms: result.duration_ms,
      session_id: result.session_id,
    });
  }

  private async readFile(c: RequestContext, id: string): Promise<void> {
    const path = queryPath(c.url);
    const encoding = c.url.searchParams.get('encoding') ?? 'utf8';
    if (encoding !== 'utf8' && encoding !== 'base64') throw new BerthError('invalid_argument', 'encoding must be utf8 or base64');
    const file = await this.manager.readFile(id, path);
    let content: string;
    if (encoding === 'utf8') {
      const text = decodeUtf8(file.bytes);
      if (text === undefined) {
        throw new BerthError('invalid_encoding', `${path} is not valid UTF-8 text; use ?encoding=base64 or /filesystem/download`, { details: { path } });
      }
      content = text;
    } else {
      content = file.bytes.toString('base64');
    }
    sendJson(c.res, 200, { content, path: file.path, size: file.size, encoding, sha256: file.sha256 });
  }

  private async writeFile(c: RequestContext, id: string): Promise<void> {
    const body = await this.body(c);
    const path = body.path;
    if (typeof path !== 'string') throw new BerthError('invalid_path', 'path is required (relative to /workspace)', { details: { field: 'path' } });
    if (typeof body.content !== 'string') throw new BerthError('invalid_argument', 'content is required and must be a string');
    const encoding = body.encoding ?? 'utf8';
    const mode = body.mode ?? 'w';
    if (mode !== 'w' && mode !== 'a') throw new BerthError('invalid_argument', 'mode must be "w" or "a"');
    const bytes = encoding === 'base64' ? decodeBase64(body.content) : encoding === 'utf8' ? Buffer.from(body.content, 'utf8') : undefined;
    if (!bytes) throw new BerthError('invalid_encoding', 'encoding must be "utf8" or "base64", and content must match it');
    const result = await this.manager.writeFile(id, path, bytes, { mode });
    sendJson(c.res, 200, { status: 'ok', path: result.path, size: result.size, written: result.written, sha256: sha256Hex(bytes) });
  }

  private async listDirectory(c: RequestContext, id: string): Promise<void> {
    const path = c.url.searchParams.get('path') ?? '.';
    const includeHidden = ['1', 'true'].includes(c.url.searchParams.get('include_hidden') ?? '');
    const listing = await this.manager.listFiles(id, path === '' ? '.' : path);
    const entries = listing.entries
      .filter((e) => includeHidden || !e.name.startsWith('.'))
      .map((e) => ({
        name: e.name,
        path: `/workspace/${e.path}`,
        is_file: e.type === 'file',
        is_dir: e.type === 'directory',
        size: e.type === 'directory' ? null : e.size,
        modified_time: e.mtime_ms / 1000,
        type: e.type,
        modified_at: new Date(e.mtime_ms).toISOString(),
      }))
      .sort((a, b) => Number(b.is_dir) - Number(a.is_dir) || a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
    sendJson(c.res, 200, { entries, path: listing.path, truncated: listing.truncated });
  }

  /**
   * Multipart upload (`file` + `path`), streamed: the file goes to a temporary name in chunks and
   * is renamed into place when complete, so a failed or oversized upload leaves nothing behind.
   */
  private async upload(c: RequestContext, id: string): Promise<void> {
    const contentType = c.req.headers['content-type'] ?? '';
    if (!contentType.startsWith('multipart/form-data')) throw new BerthError('invalid_argument', 'upload expects multipart/form-data with fields "file" and "path"');
    this.manager.get(id); // fail fast on an unknown sandbox, before reading the body
    const limit = this.config.maxUploadBytes;
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: c.req.headers, limits: { files: 1, fields: 20, fileSize: limit, fieldSize: 64 * 1024 } });
    } catch (error) {
      throw new BerthError('invalid_argument', `malformed multipart request: ${(error as Error).message}`);
    }
    let target: string | undefined = c.url.searchParams.get('path') ?? undefined;
    let fileName: string | undefined;
    let temp: string | undefined;
    let written = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let sawFile = false;
    const hash = createHash('sha256');

    // Each write to the sandbox stays within both the streaming chunk and the per-call write cap.
    const chunkBytes = Math.max(1, Math.min(CHUNK_BYTES, this.config.maxWriteBytes));
    const flush = async (final: boolean) => {
      if (target === undefined || pendingBytes === 0) return;
      temp ??= tempNameFor(toWorkspacePath(target));
      let data = Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      while (data.length >= chunkBytes || (final && data.length > 0)) {
        const piece = data.subarray(0, chunkBytes);
        data = data.subarray(piece.length);
        await this.manager.writeFile(id, temp, piece, { mode: written === 0 ? 'w' : 'a' });
        written += piece.length;
      }
      if (data.length > 0) {
        pending = [data];
        pendingBytes = data.length;
      }
    };

    const work: Array<Promise<void>> = [];
    const finished = new Promise<void>((resolve, reject) => {
      bb.on('field', (name, value) => {
        if (name !== 'path' || target !== undefined) return;
        try {
          toWorkspacePath(value);
          target = value;
        } catch (error) {
          // Refuse now, before any byte is written; the rest of the body is not read.
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      bb.on('file', (name, stream, info) => {
        if (name !== 'file' || sawFile) {
          stream.resume();
          return;
        }
        sawFile = true;
        fileName = info.filename;
        const consumed = (async () => {
            try {
              for await (const chunk of stream as AsyncIterable<Buffer>) {
                hash.update(chunk);
                pending.push(chunk);
                pendingBytes += chunk.length;
                if (pendingBytes >= chunkBytes && target !== undefined) await flush(false);
              }
              if ((stream as unknown as { truncated?: boolean }).truncated) {
                throw new BerthError('file_too_large', `the upload is larger than the limit of ${limit} bytes (BERTH_MAX_UPLOAD_BYTES)`, { details: { limit } });
              }
            } catch (error) {
              stream.resume();
              throw error;
            }
          })();
        // Handled below through Promise.all; never an unhandled rejection meanwhile.
        consumed.catch(() => undefined);
        work.push(consumed);
      });
      bb.on('close', () => resolve());
      bb.on('error', (error: Error) => reject(new BerthError('invalid_argument', `malformed multipart request: ${error.message}`)));
    });
    c.req.pipe(bb);
    try {
      await finished;
      await Promise.all(work);
      if (!sawFile) throw new BerthError('invalid_argument', 'the multipart body has no "file" field');
      if (target === undefined) target = fileName;
      if (target === undefined || target === '') throw new BerthError('invalid_path', 'the "path" field is required', { details: { field: 'path' } });
      toWorkspacePath(target);
      if (written === 0 && pendingBytes === 0) {
        await this.manager.writeFile(id, target, Buffer.alloc(0), { mode: 'w' });
      } else {
        await flush(true);
        await this.manager.renameFile(id, temp!, target);
      }
      temp = undefined;
      const stat = await this.manager.stat(id, target);
      sendJson(c.res, 200, { status: 'ok', path: stat.path, size: stat.size, sha256: hash.digest('hex') });
    } catch (error) {
      // Read (and drop) the rest of the body, within the upload cap, so that the client gets the
      // error response instead of a broken pipe; beyond the cap the connection is closed.
      c.req.unpipe(bb);
      await discardBody(c.req, limit);
      throw error;
    } finally {
      if (temp !== undefined) await this.manager.deleteFile(id, temp).catch(() => undefined);
      c.req.unpipe(bb);
      c.req.resume();
    }
  }

  /** Streams a file out in ranged reads; the body is the raw bytes. */
  private async download(c: RequestContext, id: string): Promise<void> {
    const path = queryPath(c.url);
    const stat = await this.manager.stat(id, path);
    if (stat.type === 'directory') throw new BerthError('is_a_directory', `${path} is a directory; list it with /filesystem/directories`);
    if (stat.type !== 'file') throw new BerthError('invalid_path', `${path} is not a regular file`);
    const name = posix.basename(stat.path);
    c.res.writeHead(200, {
      'content-type': mimeTypeFor(stat.path),
      'content-length': String(stat.size),
      'content-disposition': `attachment; filename="${name.replace(/["\\\r\n]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`,
      'x-request-id': c.requestId,
    });
    let offset = 0;
    while (offset < stat.size) {
      const chunk = await this.manager.readFile(id, path, { offset, length: Math.min(CHUNK_BYTES, stat.size - offset), maxBytes: CHUNK_BYTES });
      if (chunk.bytes.length === 0) break;
      offset += chunk.bytes.length;
      if (!c.res.write(chunk.bytes)) await new Promise((resolve) => c.res.once('drain', resolve));
      if (c.res.destroyed) return;
    }
    c.res.end();
  }
}

/** Consumes what is left of a request body, up to `maxBytes`. */
function discardBody(req: IncomingMessage, maxBytes: number): Promise<void> {
  if (req.complete || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      req.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) {
        req.pause();
        done();
      }
    };
    req.on('data', onData);
    req.once('end', done);
    req.once('close', done);
    req.once('error', done);
    req.resume();
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function queryPath(url: URL): string {
  const path = url.searchParams.get('path');
  if (path === null) throw new BerthError('invalid_path', 'the "path" query parameter is required (relative to /workspace)', { details: { field: 'path' } });
  return path;
}

function numberField(body: Record<string, unknown>, name: string, required: boolean): number | null | undefined {
  const value = body[name];
  if (value === undefined || value === null) {
    if (required) throw new BerthError('invalid_argument', `${name} is required`);
    return value;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new BerthError('invalid_argument', `${name} must be a number`);
  return value;
}

function tempNameFor(path: string): string {
  const dir = posix.dirname(path);
  const name = `.${posix.basename(path)}.berth-upload-${randomBytes(4).toString('hex')}`;
  return dir === '.' ? name : `${dir}/${name}`;
}

/** An AbortSignal that fires when the client goes away before the response is complete. */
function abortOnClose(c: RequestContext): AbortSignal {
  const controller = new AbortController();
  c.res.on('close', () => {
    if (!c.res.writableFinished) controller.abort();
  });
  return controller.signal;
}
