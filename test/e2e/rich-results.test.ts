import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthUnderTest } from './harness.js';

const PNG_MAGIC = '89504e470d0a1a0a';

describe('rich results, binary files and resources', () => {
  const berth = new BerthUnderTest();
  let id = '';

  beforeAll(async () => {
    await berth.start();
    id = (await berth.ok<{ sandbox_id: string }>('create_sandbox', {})).sandbox_id;
  });
  afterAll(async () => {
    await berth.cleanup();
  });

  it('returns a figure shown with plt.show() as an image content block', async () => {
    const r = await berth.call('python_exec', { sandbox_id: id, code: 'import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()' });
    expect(r.isError).toBe(false);
    const images = r.raw.content.filter((c) => c.type === 'image');
    expect(images).toHaveLength(1);
    const image = images[0] as { data: string; mimeType: string };
    expect(image.mimeType).toBe('image/png');
    expect(Buffer.from(image.data, 'base64').subarray(0, 8).toString('hex')).toBe(PNG_MAGIC);
    const data = r.data as { results: Array<{ mime_types: string[] }> };
    expect(data.results[0]?.mime_types).toContain('image/png');
  });

  it('returns display() output and a DataFrame as rich results', async () => {
    const r = await berth.ok<{ output: string; results: Array<{ type: string; mime_types: string[] }> }>('python_exec', {
      sandbox_id: id,
      code: "import pandas as pd\nfrom IPython.display import display\ndisplay(pd.DataFrame({'a': [1, 2]}))\npd.DataFrame({'b': [3]})",
    });
    expect(r.results.map((x) => x.type)).toEqual(['display_data', 'execute_result']);
    expect(r.results.every((x) => x.mime_types.includes('text/html'))).toBe(true);
    expect(r.output).toMatch(/b\s*\n0\s+3/);
  });

  it('downloads a PNG as an embedded resource with a berth:// URI, size and sha256', async () => {
    await berth.ok('python_exec', { sandbox_id: id, code: "import matplotlib.pyplot as plt\nfig = plt.figure(); plt.bar([1, 2], [2, 3]); fig.savefig('out/plot.png'.replace('out/', ''))\nplt.close(fig)" });
    const r = await berth.call('download', { sandbox_id: id, path: 'plot.png' });
    expect(r.isError).toBe(false);
    const block = r.raw.content.find((c) => c.type === 'resource') as { resource: { uri: string; mimeType: string; blob: string } };
    expect(block.resource.mimeType).toBe('image/png');
    expect(block.resource.uri).toBe(`berth://sandboxes/${id}/files/plot.png`);
    const bytes = Buffer.from(block.resource.blob, 'base64');
    expect(bytes.subarray(0, 8).toString('hex')).toBe(PNG_MAGIC);
    const meta = r.data as { size: number; sha256: string; mime_type: string; uri: string };
    expect(meta.size).toBe(bytes.length);
    expect(meta.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(meta.uri).toBe(block.resource.uri);
  });

  it('round-trips binary content through upload and download byte for byte', async () => {
    const original = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(200_000)]);
    const up = await berth.ok<{ size: number; sha256: string }>('upload', { sandbox_id: id, path: 'bin/data.bin', content: original.toString('base64') });
    const sha = createHash('sha256').update(original).digest('hex');
    expect(up).toMatchObject({ size: original.length, sha256: sha });
    const inside = await berth.ok<{ output: string }>('python_exec', { sandbox_id: id, code: "import hashlib; print(hashlib.sha256(open('bin/data.bin','rb').read()).hexdigest())" });
    expect(inside.output.trim()).toBe(sha);
    const down = await berth.call('download', { sandbox_id: id, path: 'bin/data.bin' });
    const block = down.raw.content.find((c) => c.type === 'resource') as { resource: { blob: string; mimeType: string } };
    expect(block.resource.mimeType).toBe('application/octet-stream');
    expect(Buffer.from(block.resource.blob, 'base64').equals(original)).toBe(true);
    // Appending in pieces builds larger files.
    await berth.ok('upload', { sandbox_id: id, path: 'bin/data.bin', content: Buffer.from('tail').toString('base64'), mode: 'a' });
    const stat = await berth.ok<{ entries: Array<{ name: string; size: number }> }>('list_files', { sandbox_id: id, path: 'bin' });
    expect(stat.entries.find((e) => e.name === 'data.bin')?.size).toBe(original.length + 4);
  });

  it('downloads and uploads a file of exactly the default inline cap over stdio', async () => {
    const cap = 7 * 1024 * 1024;
    const original = randomBytes(cap);
    const up = await berth.ok<{ size: number; sha256: string }>('upload', { sandbox_id: id, path: 'cap.bin', content: original.toString('base64') }, { timeoutMs: 120_000 });
    expect(up.size).toBe(cap);
    const down = await berth.call('download', { sandbox_id: id, path: 'cap.bin' }, { timeoutMs: 120_000 });
    expect(down.isError, down.text.slice(0, 200)).toBe(false);
    const block = down.raw.content.find((c) => c.type === 'resource') as { resource: { blob: string } };
    expect(Buffer.from(block.resource.blob, 'base64').equals(original)).toBe(true);
    // One byte more is refused with a message that says what to do instead.
    await berth.ok('upload', { sandbox_id: id, path: 'cap.bin', content: Buffer.from('x').toString('base64'), mode: 'a' });
    const over = await berth.call('download', { sandbox_id: id, path: 'cap.bin' });
    expect(over.code).toBe('file_too_large');
    expect(over.text).toMatch(/offset and length/);
    // The connection survived all of it.
    expect((await berth.ok<{ output: string }>('python_exec', { sandbox_id: id, code: 'print("ok")' })).output).toBe('ok\n');
  });

  it('serves workspace files as MCP resources', async () => {
    await berth.ok('write_file', { sandbox_id: id, path: 'notes/readme.md', content: '# hello\n' });
    const listed = await berth.client.listResources();
    const uri = `berth://sandboxes/${id}/files/notes/readme.md`;
    expect(listed.resources.map((r) => r.uri)).toContain(uri);
    const text = await berth.client.readResource({ uri });
    expect(text.contents[0]).toMatchObject({ uri, mimeType: 'text/markdown', text: '# hello\n' });
    const png = await berth.client.readResource({ uri: `berth://sandboxes/${id}/files/plot.png` });
    const blob = (png.contents[0] as { blob?: string }).blob ?? '';
    expect(Buffer.from(blob, 'base64').subarray(0, 8).toString('hex')).toBe(PNG_MAGIC);
    const templates = await berth.client.listResourceTemplates();
    expect(templates.resourceTemplates.map((t) => t.uriTemplate)).toContain('berth://sandboxes/{sandbox_id}/files/{+path}');
  });

  it('streams progress with output so far, and cancellation interrupts the kernel', async () => {
    const messages: string[] = [];
    const r = await berth.client.callTool(
      { name: 'python_exec', arguments: { sandbox_id: id, code: "import time\nfor i in range(4):\n    print('tick', i, flush=True)\n    time.sleep(0.4)" } },
      undefined,
      { onprogress: (p) => messages.push(p.message ?? ''), timeout: 60_000 },
    );
    expect(r.isError).toBeFalsy();
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(messages.join('')).toContain('tick 0');

    await berth.ok('python_exec', { sandbox_id: id, code: 'survivor = "still here"' });
    const controller = new AbortController();
    const pending = berth.client.callTool({ name: 'python_exec', arguments: { sandbox_id: id, code: 'import time\nwhile True: time.sleep(0.05)' } }, undefined, {
      signal: controller.signal,
      timeout: 60_000,
    });
    setTimeout(() => controller.abort(), 1000);
    await expect(pending).rejects.toThrow();
    // The kernel was interrupted, so the next call runs right away with state intact.
    const after = await berth.ok<{ output: string }>('python_exec', { sandbox_id: id, code: 'print(survivor)', timeout: 20 });
    expect(after.output).toBe('still here\n');
  });
});
