import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthUnderTest, TEST_TOKEN } from './harness.js';

const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };
const MiB = 1024 * 1024;

interface ErrorBody {
  error: { code: string; message: string; request_id?: string; details?: Record<string, unknown> };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** fetch with a deadline, the body read as text (so a stream that should not open cannot hang the test). */
async function get(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; text: string; json: () => unknown }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  let text = '';
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    // An event stream never ends by itself: take what is there and go.
    await res.body?.cancel();
  } else {
    text = await res.text();
  }
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as unknown };
}

/** A raw node:http request, for headers fetch will not let us set (Host) or might rewrite (Origin). */
function raw(base: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const url = new URL(path, base);
  return new Promise<{ status: number; headers: Record<string, unknown>; text: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: Number(url.port), path: url.pathname + url.search, method: options.method ?? 'GET', headers: options.headers ?? {}, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${path}`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A node:http request over a given agent; a body given as chunks goes out chunked (no Content-Length). */
function sendOn(agent: Agent, base: string, method: string, path: string, chunks: Buffer[] = []) {
  return new Promise<{ status: number; headers: Record<string, unknown>; text: string; socketReused: boolean }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: Number(new URL(base).port), path, method, agent, headers: { ...AUTH, 'content-type': 'application/json' } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString('utf8'), socketReused: req.reusedSocket }));
    });
    req.setTimeout(8_000, () => req.destroy(new Error(`no response to ${method} ${path} within 8 s`)));
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

/** `berth serve` started by hand (the harness always sets BERTH_TOKEN), with its stderr kept. */
interface Spawned {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function spawnServe(args: string[], env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, ['dist/cli.js', 'serve', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let seen = '';
  child.stderr.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => seen, exited };
}

async function waitFor(spawned: Spawned, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = pattern.exec(spawned.stderr());
    if (match) return match;
    if (spawned.child.exitCode !== null) throw new Error(`berth serve exited with ${spawned.child.exitCode}: ${spawned.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${pattern}: ${spawned.stderr()}`);
}

async function stopSpawned(spawned: Spawned | undefined): Promise<void> {
  if (!spawned) return;
  const { child } = spawned;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await spawned.exited;
    clearTimeout(timer);
  }
}

/** The environment of a server without any bearer token (also none inherited from the outer shell). */
function envWithoutToken(berth: BerthUnderTest): Record<string, string> {
  const env = { ...berth.serverEnv };
  delete env.BERTH_TOKEN;
  delete env.BERTH_AUTH;
  delete env.BERTH_HOST;
  delete env.BERTH_PORT;
  return env;
}

async function createSandbox(base: string): Promise<string> {
  const res = await fetch(`${base}/v1/sandboxes`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: '{}' });
  const body = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  expect(body.id).toMatch(/\S/);
  return body.id;
}

describe('HTTP front (berth serve): health, guards, caps, streaming, MCP parity', () => {
  // Default settings; MCP over Streamable HTTP through `main.client`.
  const main = new BerthUnderTest({}, 'http');
  // Same defaults but the sandbox image does not exist.
  const noImage = new BerthUnderTest({ BERTH_IMAGE: 'berth-sandbox:missing' }, 'http');
  // Small JSON caps and an extra allowed origin.
  const limits = new BerthUnderTest({ BERTH_MAX_WRITE_BYTES: '64k', BERTH_ALLOWED_ORIGINS: 'http://app.example' }, 'http');
  // Small upload cap.
  const uploads = new BerthUnderTest({ BERTH_MAX_UPLOAD_BYTES: '1m' }, 'http');
  // Spawned by hand without BERTH_TOKEN.
  const tokenless = new BerthUnderTest({}, 'http');
  let base = '';
  let limitsBase = '';
  let uploadsBase = '';
  let id = '';
  const spawned: Spawned[] = [];

  beforeAll(async () => {
    [limitsBase, uploadsBase] = await Promise.all([limits.startHttpServer(), uploads.startHttpServer(), main.start()]);
    base = main.baseUrl;
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    id = await createSandbox(base);
  });
  afterAll(async () => {
    for (const s of spawned) await stopSpawned(s);
    for (const b of [main, noImage, limits, uploads, tokenless]) await b.cleanup();
  });

  describe('1. health', () => {
    it('GET /healthz is 200 without a token', async () => {
      const r = await get(`${base}/healthz`);
      expect(r.status).toBe(200);
      expect(r.json()).toMatchObject({ status: 'ok' });
    });

    it('GET /readyz is 200 and ready on this machine, without a token', async () => {
      const r = await get(`${base}/readyz`);
      expect(r.status, r.text).toBe(200);
      expect(r.json()).toMatchObject({ status: 'ready', checks: { docker: 'ok', image: 'ok' } });
    });

    it('GET /readyz is 503 when the sandbox image is missing', async () => {
      const other = await noImage.startHttpServer();
      const r = await get(`${other}/readyz`);
      expect(r.status, r.text).toBe(503);
      const body = r.json() as { status: string; checks: Record<string, string> };
      expect(body.status).toBe('not_ready');
      expect(body.checks.image).toContain('berth-sandbox:missing');
      // Liveness is not readiness: the process itself is fine.
      expect((await get(`${other}/healthz`)).status).toBe(200);
      await noImage.stopServer();
    });
  });

  describe('2. bearer auth', () => {
    const guarded: Array<[string, string]> = [
      ['GET', '/mcp'],
      ['POST', '/mcp'],
      ['GET', '/sse'],
      ['POST', '/messages?sessionId=x'],
      ['GET', '/v1/sandboxes'],
      ['GET', '/v1/openapi.json'],
    ];

    it('refuses every guarded endpoint without a token with 401 unauthorized', async () => {
      for (const [method, path] of guarded) {
        const r = await get(`${base}${path}`, {
          method,
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          ...(method === 'POST' ? { body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }) } : {}),
        });
        expect(r.status, `${method} ${path}: ${r.text}`).toBe(401);
        const body = r.json() as ErrorBody;
        expect(body.error.code, `${method} ${path}`).toBe('unauthorized');
        expect(typeof body.error.message).toBe('string');
      }
    });

    it('refuses a wrong token with 401', async () => {
      for (const [method, path] of guarded) {
        const r = await get(`${base}${path}`, { method, headers: { authorization: 'Bearer not-the-token-at-all-0000', accept: 'application/json, text/event-stream' } });
        expect(r.status, `${method} ${path}: ${r.text}`).toBe(401);
        expect((r.json() as ErrorBody).error.code).toBe('unauthorized');
      }
      // A token that is only a prefix of the real one is wrong too.
      const prefix = await get(`${base}/v1/sandboxes`, { headers: { authorization: `Bearer ${TEST_TOKEN.slice(0, -1)}` } });
      expect(prefix.status).toBe(401);
      // So is the right token without the Bearer scheme.
      const scheme = await get(`${base}/v1/sandboxes`, { headers: { authorization: TEST_TOKEN } });
      expect(scheme.status).toBe(401);
    });

    it('accepts the right token', async () => {
      const r = await get(`${base}/v1/sandboxes`, { headers: AUTH });
      expect(r.status, r.text).toBe(200);
      const body = r.json() as { items: Array<{ id: string }> };
      expect(body.items.map((s) => s.id)).toContain(id);
      const spec = await get(`${base}/v1/openapi.json`, { headers: AUTH });
      expect(spec.status).toBe(200);
      expect(spec.json()).toHaveProperty('paths');
    });
  });

  describe('3. Host and Origin (DNS rebinding)', () => {
    it('rejects a foreign Host header with 403 forbidden, token or not', async () => {
      for (const host of ['evil.example', `evil.example:${new URL(base).port}`]) {
        const r = await raw(base, '/v1/sandboxes', { headers: { ...AUTH, host } });
        expect(r.status, `${host}: ${r.text}`).toBe(403);
        expect((JSON.parse(r.text) as ErrorBody).error.code).toBe('forbidden');
      }
      const ready = await raw(base, '/readyz', { headers: { host: 'evil.example' } });
      expect(ready.status).toBe(403);
      // The loopback names are ours.
      const ok = await raw(base, '/v1/sandboxes', { headers: { ...AUTH, host: `localhost:${new URL(base).port}` } });
      expect(ok.status, ok.text).toBe(200);
    });

    it('rejects a foreign Origin with 403 forbidden', async () => {
      for (const origin of ['http://evil.example', `http://evil.example:${new URL(base).port}`, 'http://127.0.0.1:1', 'null', 'http://app.example']) {
        const r = await raw(base, '/v1/sandboxes', { headers: { ...AUTH, origin } });
        expect(r.status, `${origin}: ${r.text}`).toBe(403);
        expect((JSON.parse(r.text) as ErrorBody).error.code).toBe('forbidden');
      }
      const mcp = await raw(base, '/mcp', {
        method: 'POST',
        headers: { ...AUTH, origin: 'http://evil.example', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(mcp.status).toBe(403);
    });

    it('allows its own origin', async () => {
      const port = new URL(base).port;
      for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
        const r = await raw(base, '/v1/sandboxes', { headers: { ...AUTH, origin } });
        expect(r.status, `${origin}: ${r.text}`).toBe(200);
      }
    });

    it('answers CORS preflights for allowed origins only', async () => {
      const allowed = await fetch(`${limitsBase}/v1/sandboxes`, {
        method: 'OPTIONS',
        headers: { Origin: 'http://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' },
      });
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('http://app.example');
      expect(allowed.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
      expect(allowed.headers.get('access-control-allow-headers')).toMatch(/Mcp-Session-Id/);
      const refused = await fetch(`${limitsBase}/v1/sandboxes`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
      expect(refused.status).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      const real = await fetch(`${limitsBase}/v1/sandboxes`, { headers: { ...AUTH, Origin: 'http://app.example' } });
      expect(real.status).toBe(200);
      expect(real.headers.get('access-control-allow-origin')).toBe('http://app.example');
    });

    it('allows an origin listed in BERTH_ALLOWED_ORIGINS, and only that one', async () => {
      const other = limitsBase;
      const allowed = await raw(other, '/v1/sandboxes', { headers: { ...AUTH, origin: 'http://app.example' } });
      expect(allowed.status, allowed.text).toBe(200);
      const evil = await raw(other, '/v1/sandboxes', { headers: { ...AUTH, origin: 'http://evil.example' } });
      expect(evil.status).toBe(403);
    });
  });

  describe('4. safe bind', () => {
    /** Starts `serve` on 0.0.0.0 with `env`, expects it to refuse before listening, returns its stderr. */
    const expectRefusedBind = async (env: Record<string, string>): Promise<string> => {
      const s = spawnServe(['--host', '0.0.0.0', '--port', '0'], env);
      spawned.push(s);
      const timer = setTimeout(() => s.child.kill('SIGKILL'), 20_000);
      const code = await s.exited;
      clearTimeout(timer);
      expect(code, s.stderr()).not.toBe(0);
      expect(code, s.stderr()).not.toBeNull();
      expect(s.stderr()).not.toMatch(/listening on/);
      return s.stderr();
    };

    it('refuses to listen on 0.0.0.0 without BERTH_TOKEN, before listening', async () => {
      expect(await expectRefusedBind(envWithoutToken(tokenless))).toContain('BERTH_TOKEN');
    });

    it('refuses BERTH_AUTH=none beyond loopback even with a token', async () => {
      await expectRefusedBind({ ...envWithoutToken(tokenless), BERTH_TOKEN: TEST_TOKEN, BERTH_AUTH: 'none' });
    });

    it('on loopback without BERTH_TOKEN prints a generated token once, and that token works', async () => {
      const s = spawnServe(['--port', '0'], envWithoutToken(tokenless));
      spawned.push(s);
      const [, url] = await waitFor(s, /listening on (http:\/\/\S+)/);
      const [, token] = await waitFor(s, /bearer token[^:]*: (\S+)/);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(token!.length).toBeGreaterThanOrEqual(16);
      await new Promise((r) => setTimeout(r, 300));
      expect(s.stderr().split(token!).length - 1, 'the token is printed exactly once').toBe(1);
      const withToken = await get(`${url}/v1/sandboxes`, { headers: { authorization: `Bearer ${token}` } });
      expect(withToken.status, withToken.text).toBe(200);
      const without = await get(`${url}/v1/sandboxes`);
      expect(without.status).toBe(401);
      const wrong = await get(`${url}/v1/sandboxes`, { headers: AUTH });
      expect(wrong.status).toBe(401);
      await stopSpawned(s);
    });
  });

  describe('5. body caps', () => {
    it('PUT filesystem/files larger than the JSON cap is 413 naming the limit', async () => {
      const other = limitsBase;
      const sid = await createSandbox(other);
      const body = JSON.stringify({ path: 'big.txt', content: 'a'.repeat(200_000) });
      const r = await get(`${other}/v1/sandboxes/${sid}/filesystem/files`, { method: 'PUT', headers: { ...AUTH, 'content-type': 'application/json' }, body });
      expect(r.status, r.text.slice(0, 300)).toBe(413);
      const err = (r.json() as ErrorBody).error;
      expect(err.code).toBe('limit_exceeded');
      const limit = err.details?.limit as number;
      expect(typeof limit).toBe('number');
      // The cap is derived from BERTH_MAX_WRITE_BYTES=64k (plus JSON/base64 overhead) and is below this body.
      expect(limit).toBeGreaterThanOrEqual(64 * 1024);
      expect(limit).toBeLessThan(Buffer.byteLength(body));
      expect(err.message).toContain(String(limit));
    });

    const streamedPut = async (agent: Agent) => {
      const sid = await createSandbox(limitsBase);
      const payload = Buffer.from(JSON.stringify({ path: 'big2.txt', content: 'b'.repeat(300_000) }));
      const chunks: Buffer[] = [];
      for (let i = 0; i < payload.length; i += 16 * 1024) chunks.push(payload.subarray(i, i + 16 * 1024));
      return sendOn(agent, limitsBase, 'PUT', `/v1/sandboxes/${sid}/filesystem/files`, chunks);
    };

    it('PUT with a body streamed without Content-Length (chunked) is capped too', async () => {
      const agent = new Agent({ keepAlive: false });
      try {
        const refused = await streamedPut(agent);
        expect(refused.status, refused.text.slice(0, 300)).toBe(413);
        const err = (JSON.parse(refused.text) as ErrorBody).error;
        expect(err.code).toBe('limit_exceeded');
        expect(err.message).toContain(String(err.details?.limit));
      } finally {
        agent.destroy();
      }
    });

    it('after refusing a streamed oversized body, a keep-alive client still gets answers', async () => {
      // One keep-alive socket, so that the second request would go over the same connection as the
      // first. The server closes a connection whose body it stopped reading (the unread rest cannot
      // be skipped), so the client must not be left hanging on it.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const refused = await streamedPut(agent);
        expect(refused.status).toBe(413);
        expect(refused.headers.connection).toBe('close');
        const next = await sendOn(agent, limitsBase, 'GET', '/v1/sandboxes');
        expect(next.socketReused).toBe(false);
        expect(next.status, next.text).toBe(200);
      } finally {
        agent.destroy();
      }
    });

    it('POST /mcp with a huge body is 413', async () => {
      const other = limitsBase;
      const huge = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'x'.repeat(1_000_000), version: '1' } } });
      const r = await get(`${other}/mcp`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: huge });
      expect(r.status, r.text.slice(0, 300)).toBe(413);
      const err = (r.json() as ErrorBody).error;
      expect(err.code).toBe('limit_exceeded');
      expect(err.message).toContain(String(err.details?.limit));
      // The server is still fine.
      expect((await get(`${other}/v1/sandboxes`, { headers: AUTH })).status).toBe(200);
    });

    it('a multipart upload over BERTH_MAX_UPLOAD_BYTES is 413 file_too_large and leaves nothing behind', async () => {
      const other = uploadsBase;
      const sid = await createSandbox(other);
      const put = await get(`${other}/v1/sandboxes/${sid}/filesystem/files`, {
        method: 'PUT',
        headers: { ...AUTH, 'content-type': 'application/json' },
        body: JSON.stringify({ path: 'dest/keep.txt', content: 'keep' }),
      });
      expect(put.status, put.text).toBe(200);

      const form = new FormData();
      form.append('path', 'dest/too-big.bin');
      form.append('file', new Blob([randomBytes(2 * MiB)]), 'too-big.bin');
      const r = await get(`${other}/v1/sandboxes/${sid}/filesystem/upload`, { method: 'POST', headers: AUTH, body: form });
      expect(r.status, r.text).toBe(413);
      const err = (r.json() as ErrorBody).error;
      expect(err.code).toBe('file_too_large');
      expect(err.message).toContain(String(MiB));

      const listing = await get(`${other}/v1/sandboxes/${sid}/filesystem/directories?path=dest&include_hidden=true`, { headers: AUTH });
      expect(listing.status, listing.text).toBe(200);
      const names = (listing.json() as { entries: Array<{ name: string }> }).entries.map((e) => e.name);
      expect(names).toEqual(['keep.txt']);
      // A smaller upload on the same server still works: nothing is wedged.
      const small = new FormData();
      small.append('path', 'dest/small.bin');
      small.append('file', new Blob([randomBytes(1000)]), 'small.bin');
      const ok = await get(`${other}/v1/sandboxes/${sid}/filesystem/upload`, { method: 'POST', headers: AUTH, body: small });
      expect(ok.status, ok.text).toBe(200);
      expect((ok.json() as { size: number }).size).toBe(1000);
    });
  });

  describe('6. streaming upload and download beyond the MCP inline cap', () => {
    it('uploads 12 MB via multipart and downloads the same bytes', async () => {
      const bytes = randomBytes(12 * MiB);
      const local = sha256(bytes);
      const form = new FormData();
      form.append('path', 'big/blob.bin');
      form.append('file', new Blob([bytes], { type: 'application/octet-stream' }), 'blob.bin');
      const up = await get(`${base}/v1/sandboxes/${id}/filesystem/upload`, { method: 'POST', headers: AUTH, body: form });
      expect(up.status, up.text).toBe(200);
      const uploaded = up.json() as { status: string; path: string; size: number; sha256: string };
      expect(uploaded.status).toBe('ok');
      expect(uploaded.path).toMatch(/(^|\/)big\/blob\.bin$/);
      expect(uploaded.size).toBe(bytes.length);
      expect(uploaded.sha256).toBe(local);

      const res = await fetch(`${base}/v1/sandboxes/${id}/filesystem/download?path=big/blob.bin`, { headers: AUTH, signal: AbortSignal.timeout(60_000) });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/octet-stream');
      expect(res.headers.get('content-disposition')).toContain('filename="blob.bin"');
      expect(res.headers.get('content-length')).toBe(String(bytes.length));
      const downloaded = new Uint8Array(await res.arrayBuffer());
      expect(downloaded.length).toBe(bytes.length);
      expect(sha256(downloaded)).toBe(local);

      // The sandbox sees the same file.
      const check = await get(`${base}/v1/sandboxes/${id}/shell/exec`, {
        method: 'POST',
        headers: { ...AUTH, 'content-type': 'application/json' },
        body: JSON.stringify({ command: 'sha256sum big/blob.bin | cut -d" " -f1; ls -a big' }),
      });
      expect(check.status, check.text).toBe(200);
      const out = (check.json() as { stdout: string }).stdout.split('\n');
      expect(out[0]).toBe(local);
      // No temporary upload file next to it.
      expect(out.slice(1).filter((l) => l !== '' && l !== '.' && l !== '..')).toEqual(['blob.bin']);
    });
  });

  describe('6b. multipart uploads that fail, in any field order', () => {
    const upload = (server: string, sid: string, parts: Array<['path', string] | ['file', Uint8Array, string]>) => {
      const form = new FormData();
      for (const part of parts) {
        if (part[0] === 'path') form.append('path', part[1]);
        else form.append('file', new Blob([part[1]]), part[2]);
      }
      return get(`${server}/v1/sandboxes/${sid}/filesystem/upload`, { method: 'POST', headers: AUTH, body: form });
    };

    it('accepts the file before the path, larger than one MCP write', async () => {
      const bytes = randomBytes(8 * MiB);
      const r = await upload(base, id, [['file', bytes, 'late.bin'], ['path', 'late/late.bin']]);
      expect(r.status, r.text).toBe(200);
      expect(r.json()).toMatchObject({ status: 'ok', size: bytes.length, sha256: sha256(bytes) });
    });

    it('refuses a path outside the workspace with 400, writing nothing, and keeps serving', async () => {
      const r = await upload(base, id, [['path', '../evil.bin'], ['file', randomBytes(3 * MiB), 'evil.bin']]);
      expect(r.status, r.text).toBe(400);
      expect((r.json() as ErrorBody).error.code).toBe('invalid_path');
      const late = await upload(base, id, [['file', randomBytes(2 * MiB), 'evil.bin'], ['path', '/etc/evil.bin']]);
      expect(late.status, late.text).toBe(400);
      expect((await get(`${base}/healthz`)).status).toBe(200);
    });

    it('answers 413 for an oversized file sent before its path, and leaves no temporary file', async () => {
      const sid = await createSandbox(uploadsBase);
      const r = await upload(uploadsBase, sid, [['file', randomBytes(3 * MiB), 'big.bin'], ['path', 'over.bin']]);
      expect(r.status, r.text).toBe(413);
      expect((r.json() as ErrorBody).error.code).toBe('file_too_large');
      const listing = await get(`${uploadsBase}/v1/sandboxes/${sid}/filesystem/directories?include_hidden=true`, { headers: AUTH });
      const names = (listing.json() as { entries: Array<{ name: string }> }).entries.map((e) => e.name);
      expect(names.filter((n) => n.includes('berth-upload') || n === 'over.bin')).toEqual([]);
      expect((await get(`${uploadsBase}/healthz`)).status).toBe(200);
    });
  });

  describe('7. MCP over HTTP and SSE matches stdio', () => {
    it('has exactly the tools and resource templates of stdio', async () => {
      const stdio = new BerthUnderTest({}, 'stdio');
      const sse = new Client({ name: 'berth-e2e-sse', version: '0.0.0' });
      try {
        await stdio.start();
        await sse.connect(
          new SSEClientTransport(new URL(`${base}/sse`), {
            requestInit: { headers: AUTH },
            eventSourceInit: { fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...AUTH } }) },
          }),
        );
        const inventory = async (client: Client) => {
          const tools = (await client.listTools()).tools.sort((a, b) => a.name.localeCompare(b.name));
          const templates = (await client.listResourceTemplates()).resourceTemplates.sort((a, b) => a.uriTemplate.localeCompare(b.uriTemplate));
          return { names: tools.map((t) => t.name), tools, templates };
        };
        const viaStdio = await inventory(stdio.client);
        const viaHttp = await inventory(main.client);
        const viaSse = await inventory(sse);
        expect(viaStdio.names.length).toBeGreaterThan(5);
        expect(viaStdio.names).toContain('python_exec');
        expect(viaStdio.templates.length).toBeGreaterThan(0);
        expect(viaHttp.names).toEqual(viaStdio.names);
        expect(viaSse.names).toEqual(viaStdio.names);
        expect(viaHttp.templates).toEqual(viaStdio.templates);
        expect(viaSse.templates).toEqual(viaStdio.templates);
        // Whole definitions (schemas, descriptions) too.
        expect(viaHttp.tools).toEqual(viaStdio.tools);
        expect(viaSse.tools).toEqual(viaStdio.tools);
      } finally {
        await sse.close().catch(() => undefined);
        await stdio.cleanup();
      }
    });
  });

  describe('8. progress over Streamable HTTP', () => {
    it('streams python_exec output as progress notifications', async () => {
      const progress: Array<{ progress: number; message?: string }> = [];
      const result = (await main.client.callTool(
        { name: 'python_exec', arguments: { sandbox_id: id, code: "import time\nfor i in range(4):\n    print('tick', i, flush=True)\n    time.sleep(0.4)" } },
        undefined,
        { timeout: 60_000, onprogress: (p) => progress.push(p) },
      )) as { isError?: boolean; structuredContent?: { output: string } };
      expect(result.isError).not.toBe(true);
      expect(result.structuredContent?.output).toBe('tick 0\ntick 1\ntick 2\ntick 3\n');
      const ticks = progress.filter((p) => (p.message ?? '').includes('tick'));
      expect(ticks.length, JSON.stringify(progress)).toBeGreaterThanOrEqual(2);
      // Progress only goes up.
      const values = progress.map((p) => p.progress);
      expect([...values].sort((a, b) => a - b)).toEqual(values);
    });
  });

  describe('9. sessions, unknown routes, request ids', () => {
    const rpc = (method: string, extra: Record<string, string> = {}) =>
      get(`${base}/mcp`, {
        method: 'POST',
        headers: { ...AUTH, ...extra, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method }),
      });

    it('an unknown MCP session id is 404', async () => {
      const r = await rpc('tools/list', { 'mcp-session-id': '00000000-0000-4000-8000-000000000000' });
      expect(r.status, r.text).toBe(404);
      expect(r.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    });

    it('a non-initialize POST without a session is 400', async () => {
      const r = await rpc('tools/list');
      expect(r.status, r.text).toBe(400);
      expect(r.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    });

    it('GET /nope is a 404 JSON error', async () => {
      const r = await get(`${base}/nope`, { headers: AUTH });
      expect(r.status).toBe(404);
      expect(r.headers.get('content-type')).toContain('application/json');
      expect((r.json() as ErrorBody).error.code).toBe('not_found');
      // Unknown /v1 routes too.
      const v1 = await get(`${base}/v1/nope`, { headers: AUTH });
      expect(v1.status).toBe(404);
      expect((v1.json() as ErrorBody).error.code).toBe('not_found');
    });

    it('echoes X-Request-Id, in the header and in error bodies', async () => {
      const ok = await get(`${base}/v1/sandboxes`, { headers: { ...AUTH, 'x-request-id': 'e2e-req-42' } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-request-id')).toBe('e2e-req-42');
      const health = await get(`${base}/healthz`, { headers: { 'x-request-id': 'e2e-health.1' } });
      expect(health.headers.get('x-request-id')).toBe('e2e-health.1');
      const missing = await get(`${base}/nope`, { headers: { 'x-request-id': 'e2e-req-404' } });
      expect(missing.headers.get('x-request-id')).toBe('e2e-req-404');
      expect((missing.json() as ErrorBody).error.request_id).toBe('e2e-req-404');
      // Without one, the server makes one up.
      const made = await get(`${base}/healthz`);
      expect(made.headers.get('x-request-id')).toMatch(/\S{8,}/);
    });
  });

  describe('10. still serving', () => {
    it('runs python over REST after all of the above', async () => {
      const r = await get(`${base}/v1/sandboxes/${id}/python/exec`, {
        method: 'POST',
        headers: { ...AUTH, 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'print(6 * 7)' }),
      });
      expect(r.status, r.text).toBe(200);
      expect(r.json()).toMatchObject({ success: true, output: '42\n' });
      // And MCP over the same server.
      const mcp = (await main.client.callTool({ name: 'python_exec', arguments: { sandbox_id: id, code: 'print("alive")' } })) as { structuredContent?: { output: string } };
      expect(mcp.structuredContent?.output).toBe('alive\n');
    });
  });
});
