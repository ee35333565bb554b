import { afterAll, describe, expect, it } from 'vitest';
import { BerthUnderTest, containersOf } from './harness.js';

/**
 * The registry outlives the process. A stdio server killed hard and started again sees the same
 * sandboxes; a container that kept running is re-adopted, so even kernel variables survive.
 */
describe('restart of the stdio server', () => {
  const berth = new BerthUnderTest();
  afterAll(async () => {
    await berth.cleanup();
  });

  it('keeps sandboxes, files and the running kernel across a server restart', async () => {
    await berth.start();
    const { sandbox_id: id } = await berth.ok<{ sandbox_id: string }>('create_sandbox', { name: 'survivor' });
    const idle = (await berth.ok<{ sandbox_id: string }>('create_sandbox', { name: 'never-started' })).sandbox_id;
    await berth.ok('write_file', { sandbox_id: id, path: 'kept.txt', content: 'still here' });
    const before = await berth.ok<{ session_id: string }>('python_exec', { sandbox_id: id, code: 'answer = 42' });
    const [container] = containersOf(id);

    const pid = berth.pid;
    expect(pid).toBeTypeOf('number');
    process.kill(pid as number, 'SIGKILL');
    await berth.stopServer();

    await berth.start();
    const listed = await berth.ok<{ sandboxes: Array<{ sandbox_id: string; name: string; status: string }> }>('list_sandboxes', {});
    expect(listed.sandboxes.map((s) => s.sandbox_id).sort()).toEqual([id, idle].sort());
    expect(listed.sandboxes.find((s) => s.sandbox_id === idle)?.status).toBe('idle');

    const file = await berth.ok<{ content: string }>('read_file', { sandbox_id: id, path: 'kept.txt' });
    expect(file.content).toBe('still here');
    const after = await berth.ok<{ output: string; session_id: string }>('python_exec', { sandbox_id: id, code: 'print(answer)' });
    expect(after.output).toBe('42\n');
    expect(after.session_id).toBe(before.session_id);
    expect(containersOf(id)).toEqual([container]);

    // A stop after the restart still ends the adopted session; the next call starts a new one.
    await berth.ok('stop', { sandbox_id: id });
    expect(containersOf(id)).toEqual([]);
    const fresh = await berth.ok<{ success: boolean; error: string; session_id: string }>('python_exec', { sandbox_id: id, code: 'answer' });
    expect(fresh.success).toBe(false);
    expect(fresh.error).toContain('NameError');
    expect(fresh.session_id).not.toBe(before.session_id);
  });

  it('starts a clean session when the container went away while the server was down', async () => {
    const { sandbox_id: id } = await berth.ok<{ sandbox_id: string }>('create_sandbox', {});
    await berth.ok('python_exec', { sandbox_id: id, code: "open('f.txt','w').write('x'); v = 1" });
    await berth.stopServer();
    const { docker } = await import('./harness.js');
    docker(['rm', '-f', ...containersOf(id)]);
    await berth.start();
    const r = await berth.ok<{ output: string }>('python_exec', { sandbox_id: id, code: "print(open('f.txt').read(), 'v' in globals())" });
    expect(r.output).toBe('x False\n');
  });
});
