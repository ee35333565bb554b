import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthUnderTest, TEST_TOKEN, containersOf, volumeExists } from './harness.js';

/**
 * The four seed scenarios verbatim over REST v1, endpoint by endpoint as the seed writes them
 * (POST /v1/sandboxes, POST /filesystem/upload, POST /python/exec, …), with the seed's status codes.
 */
describe('seed scenarios over REST v1', () => {
  const berth = new BerthUnderTest({}, 'http');
  let base = '';

  beforeAll(async () => {
    base = await berth.startHttpServer();
  });
  afterAll(async () => {
    await berth.cleanup();
  });

  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any; bytes: Buffer; headers: Headers }> {
    const init: RequestInit = { method, headers: { Authorization: `Bearer ${TEST_TOKEN}` } };
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const res = await fetch(`${base}${path}`, init);
    const bytes = Buffer.from(await res.arrayBuffer());
    let json: unknown;
    if ((res.headers.get('content-type') ?? '').includes('application/json')) json = JSON.parse(bytes.toString('utf8'));
    return { status: res.status, json, bytes, headers: res.headers };
  }

  const exec = (id: string, code: string, timeout?: number) => api('POST', `/v1/sandboxes/${id}/python/exec`, { code, ...(timeout ? { timeout } : {}) });

  it('scenario 1: interactive data analysis with stop/resume', async () => {
    const created = await api('POST', '/v1/sandboxes', {});
    expect(created.status).toBe(201);
    expect(created.json.status).toBe('idle');
    const id: string = created.json.id;
    const csv = 'month,revenue\n2026-01,100.5\n2026-02,200.25\n2026-03,300\n2026-04,50\n2026-05,25\n2026-06,12.25\n';
    const form = new FormData();
    form.append('path', 'sales.csv');
    form.append('file', new Blob([csv]), 'sales.csv');
    const uploaded = await api('POST', `/v1/sandboxes/${id}/filesystem/upload`, form);
    expect(uploaded.status).toBe(200);
    expect(uploaded.json).toMatchObject({ status: 'ok', path: 'sales.csv', size: csv.length });

    const r1 = await exec(id, "import pandas as pd; df = pd.read_csv('sales.csv'); df.head()");
    expect(r1.status).toBe(200);
    expect(r1.json.success).toBe(true);
    expect(r1.json.output).toContain('2026-05');
    expect(r1.json.output).not.toContain('2026-06');
    const r2 = await exec(id, "df['revenue'].sum()");
    expect(Number(r2.json.output.trim())).toBeCloseTo(688, 6);
    expect(r2.json.session_id).toBe(r1.json.session_id);

    const r3 = await exec(id, "import matplotlib.pyplot as plt; df['revenue'].plot(); plt.savefig('chart.png')");
    expect(r3.json.success).toBe(true);
    const sha = (await exec(id, "import hashlib; print(hashlib.sha256(open('chart.png','rb').read()).hexdigest())")).json.output.trim();
    const png = await api('GET', `/v1/sandboxes/${id}/filesystem/download?path=chart.png`);
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(png.headers.get('content-disposition')).toContain('filename="chart.png"');
    expect(createHash('sha256').update(png.bytes).digest('hex')).toBe(sha);

    const stopped = await api('POST', `/v1/sandboxes/${id}/stop`);
    expect(stopped.status).toBe(200);
    expect((await api('GET', `/v1/sandboxes/${id}`)).json).toMatchObject({ status: 'idle', current_session_id: null });
    expect(containersOf(id)).toEqual([]);

    const r9 = await exec(id, 'df.head()');
    expect(r9.status).toBe(200);
    expect(r9.json.success).toBe(false);
    expect(r9.json.error).toContain("NameError: name 'df' is not defined");
    const r10 = await exec(id, "import pandas as pd; df = pd.read_csv('sales.csv'); df.head()");
    expect(r10.json.success).toBe(true);
    const again = await api('GET', `/v1/sandboxes/${id}/filesystem/download?path=chart.png`);
    expect(createHash('sha256').update(again.bytes).digest('hex')).toBe(sha);

    const deleted = await api('DELETE', `/v1/sandboxes/${id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.bytes.length).toBe(0);
  });

  it('scenario 2: script development and debugging', async () => {
    const id: string = (await api('POST', '/v1/sandboxes', {})).json.id;
    const put1 = await api('PUT', `/v1/sandboxes/${id}/filesystem/files`, { path: 'script.py', content: 'print(1/0)' });
    expect(put1.status).toBe(200);
    expect(containersOf(id)).toHaveLength(1);
    const bad = await exec(id, "exec(open('script.py').read())");
    expect(bad.status).toBe(200);
    expect(bad.json.success).toBe(false);
    expect(bad.json.error).toContain('ZeroDivisionError: division by zero');
    expect(bad.json.output).toBe('');
    await api('PUT', `/v1/sandboxes/${id}/filesystem/files`, { path: 'script.py', content: "print('Hello, World!')" });
    const good = await exec(id, "exec(open('script.py').read())");
    expect(good.json).toMatchObject({ success: true, output: 'Hello, World!\n', error: null });
    const read = await api('GET', `/v1/sandboxes/${id}/filesystem/files?path=script.py`);
    expect(read.status).toBe(200);
    expect(read.json.content).toBe("print('Hello, World!')");
    expect((await api('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
  });

  it('scenario 3: nested files and dependencies that survive stop/resume', async () => {
    const id: string = (await api('POST', '/v1/sandboxes', {})).json.id;
    const put = (path: string, content: string) => api('PUT', `/v1/sandboxes/${id}/filesystem/files`, { path, content });
    await put('vendor/requests/setup.py', "from setuptools import setup\nsetup(name='requests', version='2.31.0', packages=['requests'])\n");
    await put('vendor/requests/requests/__init__.py', "__version__ = '2.31.0'\n");
    await put('requirements.txt', './vendor/requests\n');
    expect((await put('src/main.py', 'import requests; print(requests.__version__)')).status).toBe(200);
    const dir = await api('GET', `/v1/sandboxes/${id}/filesystem/directories?path=src`);
    expect(dir.json.entries).toEqual([expect.objectContaining({ name: 'main.py', path: '/workspace/src/main.py', is_file: true, is_dir: false })]);
    const install = await exec(
      id,
      "import subprocess; subprocess.run(['pip', 'install', '--no-index', '--no-build-isolation', '-r', 'requirements.txt', '--target', '/workspace/.libs'], check=True, capture_output=True)",
      180,
    );
    expect(install.json.success).toBe(true);
    expect((await exec(id, "import sys; sys.path.insert(0, '/workspace/.libs'); exec(open('src/main.py').read())")).json.output).toBe('2.31.0\n');
    expect((await api('POST', `/v1/sandboxes/${id}/stop`)).json).toEqual({ status: 'stopped' });
    const resumed = await exec(id, "import sys; sys.path.insert(0, '/workspace/.libs'); import requests; print(requests.__version__)");
    expect(resumed.json).toMatchObject({ success: true, output: '2.31.0\n' });
    expect((await api('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
  });

  it('scenario 4: three calls, lazy start, full clean-up, then 404', async () => {
    const created = await api('POST', '/v1/sandboxes', {});
    expect(created.status).toBe(201);
    const id: string = created.json.id;
    expect(created.json.status).toBe('idle');
    expect(containersOf(id)).toEqual([]);
    const run = await exec(id, 'print(2 * 21)');
    expect(run.json).toMatchObject({ success: true, output: '42\n' });
    expect((await api('GET', `/v1/sandboxes/${id}`)).json.status).toBe('ready');
    expect((await api('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
    expect(containersOf(id)).toEqual([]);
    expect(volumeExists(`berth-ws-${id}`)).toBe(false);
    const gone = await api('GET', `/v1/sandboxes/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.json.error.code).toBe('sandbox_not_found');
    expect((await exec(id, 'print(1)')).status).toBe(404);
    expect((await api('DELETE', `/v1/sandboxes/${id}`)).status).toBe(404);
  });

  it('maps errors to statuses with the error envelope', async () => {
    const id: string = (await api('POST', '/v1/sandboxes', {})).json.id;
    const invalid = await api('GET', `/v1/sandboxes/${id}/filesystem/files?path=../etc/passwd`);
    expect(invalid.status).toBe(400);
    expect(invalid.json.error).toMatchObject({ code: 'invalid_path' });
    expect(typeof invalid.json.error.message).toBe('string');
    expect(invalid.json.error.details).toBeTypeOf('object');
    const missing = await api('GET', `/v1/sandboxes/${id}/filesystem/download?path=nope.bin`);
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('file_not_found');
    const missingRead = await api('GET', `/v1/sandboxes/${id}/filesystem/files?path=nope.txt`);
    expect(missingRead.status).toBe(404);
    const noCode = await api('POST', `/v1/sandboxes/${id}/python/exec`, {});
    expect(noCode.status).toBe(400);
    expect(noCode.json.error.code).toBe('invalid_argument');
    const badJson = await fetch(`${base}/v1/sandboxes/${id}/python/exec`, { method: 'POST', headers: { Authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' }, body: '{nope' });
    expect(badJson.status).toBe(400);
    const timedOut = await exec(id, 'while True: pass', 1);
    expect(timedOut.status).toBe(200);
    expect(timedOut.json).toMatchObject({ success: false, timed_out: true });
    const shell = await api('POST', `/v1/sandboxes/${id}/shell/exec`, { command: 'echo out; echo err >&2; exit 3' });
    expect(shell.json).toMatchObject({ success: false, exit_code: 3, output: 'out\n', error: 'err\n' });
    const page1 = await api('GET', '/v1/sandboxes?limit=1');
    expect(page1.json.items).toHaveLength(1);
    expect(Array.isArray(page1.json.items)).toBe(true);
    const openapi = await api('GET', '/v1/openapi.json');
    expect(openapi.json.openapi).toMatch(/^3\./);
    expect(Object.keys(openapi.json.paths)).toContain('/v1/sandboxes/{sandbox_id}/python/exec');
    expect((await api('DELETE', `/v1/sandboxes/${id}`)).status).toBe(204);
  });

  it('replays POST /v1/sandboxes for the same Idempotency-Key', async () => {
    const send = (key: string, body: unknown) =>
      fetch(`${base}/v1/sandboxes`, { method: 'POST', headers: { Authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json', 'Idempotency-Key': key }, body: JSON.stringify(body) });
    const a = await send('key-1', { ttl: 600 });
    const b = await send('key-1', { ttl: 600 });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    const first = (await a.json()) as { id: string };
    expect(((await b.json()) as { id: string }).id).toBe(first.id);
    expect((await send('key-1', { ttl: 5 })).status).toBe(409);
    await api('DELETE', `/v1/sandboxes/${first.id}`);
  });
});

describe('REST v1 when Docker is unreachable', () => {
  const berth = new BerthUnderTest({ DOCKER_HOST: 'unix:///tmp/berth-no-such-docker.sock' }, 'http');
  afterAll(async () => {
    await berth.cleanup();
  });

  it('answers 503 runtime_unavailable, and /readyz says not ready', async () => {
    const base = await berth.startHttpServer();
    const res = await fetch(`${base}/v1/sandboxes`, { method: 'POST', headers: { Authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('runtime_unavailable');
    expect(body.error.message).toMatch(/Start Docker|DOCKER_HOST/);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    const list = await fetch(`${base}/v1/sandboxes`, { headers: { Authorization: `Bearer ${TEST_TOKEN}` } });
    expect(list.status).toBe(200);
  });
});
