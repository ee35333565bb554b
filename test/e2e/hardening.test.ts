import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthUnderTest } from './harness.js';

interface Shell {
  exit_code: number;
  stdout: string;
  stderr: string;
}

/** The default hardening, observed from inside a sandbox. */
describe('sandbox hardening (defaults)', () => {
  const berth = new BerthUnderTest({ BERTH_MEMORY: '384m', BERTH_PIDS_LIMIT: '128' });
  let id = '';
  const sh = (command: string) => berth.ok<Shell>('shell_exec', { sandbox_id: id, command, timeout: 30 });

  beforeAll(async () => {
    await berth.start();
    id = (await berth.ok<{ sandbox_id: string }>('create_sandbox', {})).sandbox_id;
  });
  afterAll(async () => {
    await berth.cleanup();
  });

  it('runs as a non-root user', async () => {
    expect((await sh('id -u')).stdout.trim()).toBe('1000');
    const py = await berth.ok<{ output: string }>('python_exec', { sandbox_id: id, code: 'import os; print(os.getuid(), os.geteuid())' });
    expect(py.output).toBe('1000 1000\n');
  });

  it('has no network interface but lo', async () => {
    const r = await berth.ok<{ output: string }>('python_exec', { sandbox_id: id, code: 'import socket; print(sorted(n for _, n in socket.if_nameindex()))' });
    expect(r.output).toBe("['lo']\n");
    const dev = await sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
    expect(dev.stdout.trim()).toBe('lo');
  });

  it('has a read-only root filesystem and writable /workspace and /tmp', async () => {
    const root = await sh('touch /berth-probe 2>&1; echo "exit=$?"');
    expect(root.stdout).toContain('Read-only file system');
    expect(root.stdout).toContain('exit=1');
    const usr = await sh('touch /usr/lib/berth-probe 2>&1; echo "exit=$?"');
    expect(usr.stdout).toMatch(/Read-only file system|Permission denied/);
    expect((await sh('touch /workspace/ok /tmp/ok && echo fine')).stdout).toBe('fine\n');
  });

  it('has no capabilities and no way to gain privileges', async () => {
    const status = (await sh('grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)" /proc/self/status')).stdout;
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
      expect(status).toMatch(new RegExp(`${cap}:\\s+0000000000000000`));
    }
    expect(status).toMatch(/NoNewPrivs:\s+1/);
    expect((await sh('test -S /var/run/docker.sock && echo present || echo absent')).stdout).toBe('absent\n');
  });

  it('makes the kernel, not the agent, the first victim of the OOM killer', async () => {
    const r = await berth.ok<{ output: string }>('python_exec', {
      sandbox_id: id,
      code: "import os; print(open('/proc/self/oom_score_adj').read().strip(), open(f'/proc/{os.getppid()}/oom_score_adj').read().strip())",
    });
    expect(r.output).toBe('500 0\n');
  });

  it('bounds memory: a kernel that eats too much is restarted, and the sandbox keeps working', async () => {
    const r = await berth.ok<{ success: boolean; kernel_restarted: boolean; error: string | null }>('python_exec', {
      sandbox_id: id,
      code: 'hog = bytearray(2 * 1024**3)',
      timeout: 60,
    });
    expect(r.success).toBe(false);
    // Either the kernel got MemoryError (allocation refused) or it was OOM-killed and restarted.
    expect(r.kernel_restarted || /MemoryError/.test(r.error ?? '')).toBe(true);
    const after = await berth.ok<{ output: string }>('python_exec', { sandbox_id: id, code: 'print(6 * 7)' });
    expect(after.output).toBe('42\n');
  });

  it('bounds processes with the pids limit', async () => {
    const r = await berth.ok<{ output: string }>('python_exec', {
      sandbox_id: id,
      code: [
        'import subprocess',
        'procs, failure = [], None',
        'try:',
        '    for _ in range(300): procs.append(subprocess.Popen(["sleep", "30"]))',
        'except OSError as e: failure = type(e).__name__',
        'for p in procs: p.kill(); p.wait()',
        'print(len(procs), failure)',
      ].join('\n'),
      timeout: 60,
    });
    const [started, failure] = r.output.trim().split(' ');
    expect(Number(started)).toBeLessThan(128);
    expect(failure).toBe('BlockingIOError');
  });
});
