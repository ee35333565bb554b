import { createHash } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { createMcpServer } from '../../src/mcp/server.js';
import { FakeDriver } from '../../src/runtime/fake-driver.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { SqliteSandboxStore } from '../../src/store/sqlite-sandbox-store.js';

const TOOLS = [
  'create_sandbox',
  'list_sandboxes',
  'get_sandbox',
  'python_exec',
  'shell_exec',
  'write_file',
  'upload',
  'read_file',
  'download',
  'list_files',
  'delete_file',
  'stop',
  'delete',
];

let driver: FakeDriver;
let store: SqliteSandboxStore;
let manager: SandboxManager;
let client: Client;
let closeServer: () => Promise<void>;

beforeEach(async () => {
  driver = new FakeDriver();
  store = new SqliteSandboxStore(':memory:');
  const config = loadConfig({}, { maxSandboxes: 5 });
  manager = new SandboxManager({ store, driver, config, logger: silentLogger() });
  const server = createMcpServer(manager, config, silentLogger());
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  client = new Client({ name: 'unit', version: '0' });
  await client.connect(clientTransport);
  closeServer = () => server.close();
});

afterEach(async () => {
  await client.close();
  await closeServer();
  manager.close();
  store.close();
});

async function call(name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** A successful call's structured result. */
async function ok(name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const result = await call(name, args);
  expect(result.isError, `${name} failed: ${JSON.stringify(result.content)}`).toBeFalsy();
  expect(result.structuredContent).toBeDefined();
  return result.structuredContent!;
}

/** A failed call's Berth error code, after checking the result is shaped for an agent. */
async function failure(name: string, args: Record<string, unknown>): Promise<string> {
  const result = await call(name, args);
  expect(result.isError).toBe(true);
  const error = result._meta?.['berth/error'] as { code: string; message: string } | undefined;
  expect(error, `no berth/error in ${JSON.stringify(result)}`).toBeDefined();
  expect(result.content[0]).toEqual({ type: 'text', text: `Error [${error!.code}]: ${error!.message}` });
  return error!.code;
}

async function newSandbox(): Promise<string> {
  return (await ok('create_sandbox', {})).sandbox_id as string;
}

/** The server still answers after an error. */
async function stillServing(): Promise<void> {
  const listed = await ok('list_sandboxes', {});
  expect(typeof listed.total).toBe('number');
}

describe('MCP tools', () => {
  it('lists all 13 tools, each with an output schema and annotations', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOLS].sort());
    for (const tool of tools) {
      expect(tool.description, tool.name).toBeTruthy();
      expect(tool.inputSchema.type, tool.name).toBe('object');
      expect(tool.outputSchema?.type, tool.name).toBe('object');
      expect(tool.annotations, tool.name).toMatchObject({
        readOnlyHint: expect.any(Boolean),
        destructiveHint: expect.any(Boolean),
        idempotentHint: expect.any(Boolean),
      });
    }
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect(byName.get('read_file')?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get('delete')?.annotations?.destructiveHint).toBe(true);
    expect(byName.get('python_exec')?.annotations?.readOnlyHint).toBe(false);
    expect(byName.get('python_exec')?.inputSchema.required).toEqual(expect.arrayContaining(['sandbox_id', 'code']));
  });

  it('create_sandbox returns the sandbox as structured content and as its JSON text', async () => {
    const result = await call('create_sandbox', { name: 'demo' });
    expect(result.isError).toBeFalsy();
    const data = result.structuredContent!;
    expect(data).toMatchObject({ sandbox_id: expect.stringMatching(/^sbx_/), status: 'idle', name: 'demo', current_session_id: null });
    expect(result.content).toEqual([{ type: 'text', text: JSON.stringify(data) }]);
    expect(driver.startCount).toBe(0);
  });

  it('python_exec keeps variables and reports a failing program as success: false', async () => {
    const id = await newSandbox();
    await ok('python_exec', { sandbox_id: id, code: 'x = 3' });
    expect(await ok('python_exec', { sandbox_id: id, code: 'print(x)' })).toMatchObject({ success: true, output: '3\n', error: null });
    const failed = await call('python_exec', { sandbox_id: id, code: 'print(y)' });
    expect(failed.isError).toBeFalsy();
    expect(failed.structuredContent).toMatchObject({ success: false, error_name: 'NameError' });
    await ok('stop', { sandbox_id: id });
    expect(await ok('python_exec', { sandbox_id: id, code: 'print(x)' })).toMatchObject({ success: false, error_name: 'NameError' });
  });

  it('python_exec on an unknown sandbox is an error with code sandbox_not_found', async () => {
    expect(await failure('python_exec', { sandbox_id: 'sbx_nope', code: 'x = 1' })).toBe('sandbox_not_found');
    await stillServing();
  });

  it('write_file and read_file round-trip text', async () => {
    const id = await newSandbox();
    const text = 'héllo\nwörld\n';
    const written = await ok('write_file', { sandbox_id: id, path: 'notes/a.txt', content: text });
    expect(written).toMatchObject({
      path: 'notes/a.txt',
      size: Buffer.byteLength(text),
      written: Buffer.byteLength(text),
      mode: 'w',
      sha256: createHash('sha256').update(text).digest('hex'),
    });
    await ok('write_file', { sandbox_id: id, path: 'notes/a.txt', content: 'more', mode: 'a' });
    const read = await ok('read_file', { sandbox_id: id, path: '/workspace/notes/a.txt' });
    expect(read).toMatchObject({ path: 'notes/a.txt', content: `${text}more`, encoding: 'utf8', eof: true, offset: 0 });
    const listed = await ok('list_files', { sandbox_id: id, recursive: true });
    expect((listed.entries as Array<{ path: string }>).map((e) => e.path)).toEqual(['notes', 'notes/a.txt']);
  });

  it('read_file with utf8 on non-UTF-8 bytes is invalid_encoding; base64 reads them', async () => {
    const id = await newSandbox();
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    await ok('upload', { sandbox_id: id, path: 'bin.dat', content: bytes.toString('base64') });
    expect(await failure('read_file', { sandbox_id: id, path: 'bin.dat', encoding: 'utf8' })).toBe('invalid_encoding');
    expect(await failure('read_file', { sandbox_id: id, path: 'bin.dat' })).toBe('invalid_encoding');
    const read = await ok('read_file', { sandbox_id: id, path: 'bin.dat', encoding: 'base64' });
    expect(read.content).toBe(bytes.toString('base64'));
    await stillServing();
  });

  it('upload with invalid base64 is invalid_encoding and writes nothing', async () => {
    const id = await newSandbox();
    expect(await failure('upload', { sandbox_id: id, path: 'x.bin', content: 'not base64!!' })).toBe('invalid_encoding');
    expect(await failure('write_file', { sandbox_id: id, path: 'x.bin', content: '@@@', encoding: 'base64' })).toBe('invalid_encoding');
    expect(await failure('read_file', { sandbox_id: id, path: 'x.bin' })).toBe('file_not_found');
    await stillServing();
  });

  it('download returns a png as an embedded resource blob with a berth:// uri', async () => {
    const id = await newSandbox();
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff]);
    await ok('upload', { sandbox_id: id, path: 'out/chart.png', content: png.toString('base64') });
    const result = await call('download', { sandbox_id: id, path: 'out/chart.png' });
    expect(result.isError).toBeFalsy();
    const uri = `berth://sandboxes/${id}/files/out/chart.png`;
    expect(result.structuredContent).toEqual({
      path: 'out/chart.png',
      uri,
      mime_type: 'image/png',
      size: png.length,
      sha256: createHash('sha256').update(png).digest('hex'),
    });
    const resource = result.content.find((c) => c.type === 'resource');
    expect(resource).toEqual({ type: 'resource', resource: { uri, mimeType: 'image/png', blob: png.toString('base64') } });
    expect(result.content[0]).toEqual({ type: 'text', text: JSON.stringify(result.structuredContent) });
  });

  it('download returns a small text file as resource text', async () => {
    const id = await newSandbox();
    await ok('write_file', { sandbox_id: id, path: 'data.csv', content: 'a,b\n1,2\n' });
    const result = await call('download', { sandbox_id: id, path: 'data.csv' });
    expect(result.content.find((c) => c.type === 'resource')).toEqual({
      type: 'resource',
      resource: { uri: `berth://sandboxes/${id}/files/data.csv`, mimeType: 'text/csv', text: 'a,b\n1,2\n' },
    });
  });

  it('a path outside the workspace is invalid_path, for every file tool', async () => {
    const id = await newSandbox();
    expect(await failure('read_file', { sandbox_id: id, path: '../x' })).toBe('invalid_path');
    expect(await failure('write_file', { sandbox_id: id, path: '../x', content: 'x' })).toBe('invalid_path');
    expect(await failure('download', { sandbox_id: id, path: '/etc/passwd' })).toBe('invalid_path');
    expect(await failure('list_files', { sandbox_id: id, path: '../' })).toBe('invalid_path');
    expect(await failure('delete_file', { sandbox_id: id, path: 'a/../../x' })).toBe('invalid_path');
    expect(await failure('shell_exec', { sandbox_id: id, command: 'ls', cwd: '../..' })).toBe('invalid_path');
    await stillServing();
  });

  it.each([
    ['python_exec', { sandbox_id: 'sbx_x', code: 42 }],
    ['python_exec', { sandbox_id: 'sbx_x' }],
    ['read_file', { sandbox_id: 'sbx_x', path: 'a', offset: -1 }],
    ['read_file', { sandbox_id: 'sbx_x', path: 'a', encoding: 'latin1' }],
    ['write_file', { sandbox_id: 'sbx_x', path: 'a', content: 'x', mode: 'x' }],
    ['create_sandbox', { ttl: 'soon' }],
    ['get_sandbox', { sandbox_id: '' }],
  ])('%s with bad arguments %j is a validation error, and the server keeps serving', async (name, args) => {
    const result = await call(name, args);
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toMatch(/validation/i);
    await stillServing();
  });

  it('get, list, stop and delete; a deleted sandbox is sandbox_not_found', async () => {
    const id = await newSandbox();
    await ok('shell_exec', { sandbox_id: id, command: 'echo hi' });
    expect(await ok('get_sandbox', { sandbox_id: id })).toMatchObject({ sandbox_id: id, status: 'running' });
    expect(await ok('list_sandboxes', {})).toMatchObject({ total: 1 });
    expect(await ok('stop', { sandbox_id: id })).toMatchObject({ status: 'idle', current_session_id: null });
    expect(await ok('delete', { sandbox_id: id })).toEqual({ sandbox_id: id, deleted: true });
    expect(driver.volumes.size).toBe(0);
    expect(await failure('get_sandbox', { sandbox_id: id })).toBe('sandbox_not_found');
    expect(await failure('read_file', { sandbox_id: id, path: 'a' })).toBe('sandbox_not_found');
    expect(await failure('delete', { sandbox_id: id })).toBe('sandbox_not_found');
  });

  it('shell_exec reports success from the exit code', async () => {
    const id = await newSandbox();
    expect(await ok('shell_exec', { sandbox_id: id, command: 'echo hi' })).toMatchObject({ success: true, exit_code: 0, stdout: 'hi\n' });
    expect(await ok('shell_exec', { sandbox_id: id, command: 'exit 2' })).toMatchObject({ success: false, exit_code: 2 });
  });

  it('delete_file removes a file', async () => {
    const id = await newSandbox();
    await ok('write_file', { sandbox_id: id, path: 'a.txt', content: 'a' });
    expect(await ok('delete_file', { sandbox_id: id, path: 'a.txt' })).toEqual({ path: 'a.txt', deleted: true, type: 'file' });
    expect(await failure('delete_file', { sandbox_id: id, path: 'a.txt' })).toBe('file_not_found');
  });

  it('the limit on sandboxes is limit_exceeded', async () => {
    for (let i = 0; i < 5; i++) await newSandbox();
    expect(await failure('create_sandbox', {})).toBe('limit_exceeded');
    await stillServing();
  });
});
