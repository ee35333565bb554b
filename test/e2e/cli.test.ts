import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { BerthUnderTest } from './harness.js';

const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['dist/cli.js', ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('CLI and failure modes of the environment', () => {
  const homes: BerthUnderTest[] = [];
  const make = (env: Record<string, string> = {}) => {
    const b = new BerthUnderTest(env);
    homes.push(b);
    return b;
  };
  afterAll(async () => {
    for (const b of homes) await b.cleanup();
  });

  it('berth doctor passes on a working machine', async () => {
    const b = make();
    const r = await cli(['doctor'], { BERTH_HOME: b.home });
    expect(r.stderr).toContain('ok    docker engine');
    expect(r.stderr).toContain('ok    sandbox image');
    expect(r.stderr).toContain('ok    registry');
    expect(r.code).toBe(0);
  });

  it('berth doctor names the missing image and the fix', async () => {
    const b = make();
    const r = await cli(['doctor'], { BERTH_HOME: b.home, BERTH_IMAGE: 'berth-sandbox:does-not-exist' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FAIL  sandbox image');
    expect(r.stderr).toContain('berth image build');
  });

  it('berth doctor reports an unreachable engine with a fix', async () => {
    const b = make();
    const r = await cli(['doctor'], { BERTH_HOME: b.home, DOCKER_HOST: 'unix:///tmp/berth-no-such-docker.sock' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FAIL  docker engine');
    expect(r.stderr).toMatch(/fix: start Docker/);
  });

  it('a missing image is a clear tool error, not a crash', async () => {
    const b = make({ BERTH_IMAGE: 'berth-sandbox:does-not-exist' });
    await b.start();
    const { sandbox_id: id } = await b.ok<{ sandbox_id: string }>('create_sandbox', {});
    const r = await b.call('python_exec', { sandbox_id: id, code: 'print(1)' });
    expect(r.isError).toBe(true);
    expect(r.code).toBe('image_not_found');
    expect(r.text).toContain('berth image build');
    expect((await b.ok<{ status: string }>('get_sandbox', { sandbox_id: id })).status).toBe('idle');
  });

  it('an unreachable Docker engine is a clear tool error, and the server keeps serving', async () => {
    const b = make({ DOCKER_HOST: 'unix:///tmp/berth-no-such-docker.sock' });
    await b.start();
    const r = await b.call('create_sandbox', {});
    expect(r.isError).toBe(true);
    expect(r.code).toBe('runtime_unavailable');
    expect(r.text).toMatch(/Start Docker|berth doctor/);
    const listed = await b.ok<{ total: number }>('list_sandboxes', {});
    expect(listed.total).toBe(0);
  });

  it('berth demo (the README run command) drives a sandbox end to end and cleans up', async () => {
    const b = make();
    const r = await cli(['demo'], { BERTH_HOME: b.home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('connected to berth over stdio');
    expect(r.stdout).toMatch(/\[image image\/png, \d+ bytes\]/);
    expect(r.stdout).toContain('ZeroDivisionError');
    expect(r.stdout).toContain('"deleted":true');
    const ls = await cli(['ls'], { BERTH_HOME: b.home });
    expect(ls.stdout).toBe('');
  });

  it("the repository's mcp.json starts a working server from the repo root", async () => {
    const b = make();
    const config = JSON.parse(readFileSync('mcp.json', 'utf8')) as { mcpServers: { berth: { command: string; args: string[]; env?: Record<string, string> } } };
    const entry = config.mcpServers.berth;
    const command = entry.command === 'node' ? process.execPath : entry.command;
    const client = new Client({ name: 'mcp-json-check', version: '0' });
    await client.connect(
      new StdioClientTransport({ command, args: entry.args, env: { ...(process.env as Record<string, string>), ...entry.env, BERTH_HOME: b.home }, stderr: 'ignore' }),
    );
    try {
      const created = await client.callTool({ name: 'create_sandbox', arguments: {} });
      const id = (created.structuredContent as { sandbox_id: string }).sandbox_id;
      const ran = await client.callTool({ name: 'python_exec', arguments: { sandbox_id: id, code: 'print(6 * 7)' } });
      expect((ran.structuredContent as { output: string }).output).toBe('42\n');
      await client.callTool({ name: 'delete', arguments: { sandbox_id: id } });
    } finally {
      await client.close();
    }
  });

  it('berth ls and berth gc work against the registry', async () => {
    const b = make();
    await b.start();
    const { sandbox_id: id } = await b.ok<{ sandbox_id: string }>('create_sandbox', { name: 'listed' });
    const ls = await cli(['ls'], { BERTH_HOME: b.home });
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain(id);
    const gc = await cli(['gc'], { BERTH_HOME: b.home });
    expect(gc.code).toBe(0);
    expect(JSON.parse(gc.stderr.trim().split('\n').pop() ?? '{}')).toMatchObject({ removedContainers: 0, removedVolumes: 0 });
  });
});
