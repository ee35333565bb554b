import { afterAll, describe, expect, it } from 'vitest';
import { BerthUnderTest, containersOf } from './harness.js';

/** Two server processes (two IDE windows) on one registry and one engine, and the idle policies. */
describe('shared registry and idle policies', () => {
  const all: BerthUnderTest[] = [];
  afterAll(async () => {
    for (const b of all) await b.cleanup();
  });

  it('lets two server processes work on the same sandbox and kernel', async () => {
    const a = new BerthUnderTest();
    all.push(a);
    // The second process uses the same BERTH_HOME, hence the same registry.
    const b = new BerthUnderTest({ BERTH_HOME: a.home });
    all.push(b);
    await a.start();
    await b.start();
    const { sandbox_id: id } = await a.ok<{ sandbox_id: string }>('create_sandbox', {});
    await a.ok('python_exec', { sandbox_id: id, code: 'shared = "from a"' });
    const seen = await b.ok<{ output: string }>('python_exec', { sandbox_id: id, code: 'print(shared)' });
    expect(seen.output).toBe('from a\n');
    // Concurrent calls from both processes are serialised by the one kernel, none is lost.
    await Promise.all([
      ...Array.from({ length: 5 }, () => a.ok('python_exec', { sandbox_id: id, code: 'counter = globals().get("counter", 0) + 1' })),
      ...Array.from({ length: 5 }, () => b.ok('python_exec', { sandbox_id: id, code: 'counter = globals().get("counter", 0) + 1' })),
    ]);
    expect((await a.ok<{ output: string }>('python_exec', { sandbox_id: id, code: 'print(counter)' })).output).toBe('10\n');
    expect(containersOf(id)).toHaveLength(1);
    // A stop from one process is seen by the other: its next call starts a fresh kernel.
    await b.ok('stop', { sandbox_id: id });
    const after = await a.ok<{ success: boolean; error: string }>('python_exec', { sandbox_id: id, code: 'shared' });
    expect(after.success).toBe(false);
    expect(after.error).toContain('NameError');
    await a.ok('delete', { sandbox_id: id });
    expect((await b.call('get_sandbox', { sandbox_id: id })).code).toBe('sandbox_not_found');
  });

  it('stops a sandbox after the idle timeout, keeping its files', async () => {
    const s = new BerthUnderTest({ BERTH_IDLE_TIMEOUT_S: '2', BERTH_SWEEP_INTERVAL_S: '1' });
    all.push(s);
    await s.start();
    const { sandbox_id: id } = await s.ok<{ sandbox_id: string }>('create_sandbox', {});
    await s.ok('write_file', { sandbox_id: id, path: 'keep.txt', content: 'kept' });
    expect(containersOf(id)).toHaveLength(1);
    await waitFor(() => containersOf(id).length === 0, 15_000);
    expect((await s.ok<{ status: string }>('get_sandbox', { sandbox_id: id })).status).toBe('idle');
    expect((await s.ok<{ content: string }>('read_file', { sandbox_id: id, path: 'keep.txt' })).content).toBe('kept');
  });

  it('notices a container removed behind its back and starts a fresh one on the next call', async () => {
    const s = new BerthUnderTest();
    all.push(s);
    await s.start();
    const { sandbox_id: id } = await s.ok<{ sandbox_id: string }>('create_sandbox', {});
    await s.ok('python_exec', { sandbox_id: id, code: 'v = 1' });
    const { docker } = await import('./harness.js');
    docker(['rm', '-f', ...containersOf(id)]);
    let status = '';
    for (let i = 0; i < 40 && status !== 'idle'; i++) {
      status = (await s.ok<{ status: string }>('get_sandbox', { sandbox_id: id })).status;
      if (status !== 'idle') await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe('idle');
    const r = await s.ok<{ output: string }>('python_exec', { sandbox_id: id, code: "print('v' in globals())" });
    expect(r.output).toBe('False\n');
  });

  it('an unattended container ends itself after the idle timeout when no server is left', async () => {
    const s = new BerthUnderTest({ BERTH_IDLE_TIMEOUT_S: '3' });
    all.push(s);
    await s.start();
    const { sandbox_id: id } = await s.ok<{ sandbox_id: string }>('create_sandbox', {});
    await s.ok('python_exec', { sandbox_id: id, code: 'print(1)' });
    process.kill(s.pid as number, 'SIGKILL');
    await s.stopServer();
    expect(containersOf(id)).toHaveLength(1);
    await waitFor(() => containersOf(id).length === 0, 20_000);
    await s.start();
    const r = await s.ok<{ output: string }>('python_exec', { sandbox_id: id, code: 'print(2)' });
    expect(r.output).toBe('2\n');
  });
});

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
