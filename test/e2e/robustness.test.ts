import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthUnderTest } from './harness.js';

interface Exec {
  success: boolean;
  output: string;
  error: string | null;
  truncated: boolean;
  timed_out: boolean;
  kernel_restarted: boolean;
}

/** Bad input never hurts: every case is a clear error with a stable code, and the server keeps serving. */
describe('bad input over MCP stdio', () => {
  const berth = new BerthUnderTest({ BERTH_MAX_WRITE_BYTES: '1m', BERTH_MAX_READ_BYTES: '1m', BERTH_MAX_OUTPUT_CHARS: '20000' });
  let id = '';

  beforeAll(async () => {
    await berth.start();
    id = (await berth.ok<{ sandbox_id: string }>('create_sandbox', {})).sandbox_id;
    await berth.ok('shell_exec', { sandbox_id: id, command: 'ln -s /etc/passwd leak && ln -s /etc etcdir && mkdir -p src && printf "\\xff\\xfe\\x00bin" > blob.bin' });
  });
  afterAll(async () => {
    await berth.cleanup();
  });

  async function expectError(tool: string, args: Record<string, unknown>, code: string, hint?: RegExp) {
    const result = await berth.call(tool, args);
    expect(result.isError, `${tool} ${JSON.stringify(args).slice(0, 80)} → ${result.text}`).toBe(true);
    expect(result.code, result.text).toBe(code);
    expect(result.text).toContain(`[${code}]`);
    if (hint) expect(result.text).toMatch(hint);
    return result;
  }

  it('rejects an unknown sandbox id on every tool', async () => {
    for (const tool of ['get_sandbox', 'python_exec', 'shell_exec', 'write_file', 'read_file', 'upload', 'download', 'list_files', 'delete_file', 'stop', 'delete']) {
      await expectError(tool, { sandbox_id: 'sbx_doesnotexist', code: '1', command: 'true', path: 'a.txt', content: 'eA==' }, 'sandbox_not_found', /create_sandbox|list_sandboxes/);
    }
  });

  it('rejects paths outside the workspace, also through symlinks', async () => {
    await expectError('read_file', { sandbox_id: id, path: '../x' }, 'invalid_path', /workspace/);
    await expectError('read_file', { sandbox_id: id, path: '/etc/passwd' }, 'invalid_path', /outside \/workspace/);
    await expectError('write_file', { sandbox_id: id, path: 'a/../../x', content: 'x' }, 'invalid_path');
    await expectError('read_file', { sandbox_id: id, path: 'leak' }, 'invalid_path', /symlink/);
    await expectError('download', { sandbox_id: id, path: 'leak' }, 'invalid_path', /symlink/);
    await expectError('write_file', { sandbox_id: id, path: 'etcdir/evil', content: 'x' }, 'invalid_path', /symlink/);
    await expectError('list_files', { sandbox_id: id, path: 'etcdir' }, 'invalid_path');
    await expectError('shell_exec', { sandbox_id: id, command: 'pwd', cwd: '/tmp' }, 'invalid_path');
    await expectError('read_file', { sandbox_id: id, path: 'a\u0000b' }, 'invalid_path', /NUL/);
    // Deleting the link removes the link, never its target.
    const removed = await berth.ok<{ type: string }>('delete_file', { sandbox_id: id, path: 'leak' });
    expect(removed.type).toBe('symlink');
  });

  it('reports missing files, directories where files are expected, and non-UTF-8 text', async () => {
    await expectError('read_file', { sandbox_id: id, path: 'missing.txt' }, 'file_not_found');
    await expectError('download', { sandbox_id: id, path: 'missing.png' }, 'file_not_found');
    await expectError('read_file', { sandbox_id: id, path: 'src' }, 'is_a_directory', /list_files/);
    await expectError('write_file', { sandbox_id: id, path: 'src', content: 'x' }, 'is_a_directory');
    await expectError('write_file', { sandbox_id: id, path: 'newdir/', content: 'x' }, 'is_a_directory', /file's path/);
    await expectError('read_file', { sandbox_id: id, path: 'blob.bin' }, 'invalid_encoding', /base64|download/);
    const asBase64 = await berth.ok<{ content: string }>('read_file', { sandbox_id: id, path: 'blob.bin', encoding: 'base64' });
    expect(Buffer.from(asBase64.content, 'base64').toString('hex')).toBe('fffe0062696e');
    await expectError('upload', { sandbox_id: id, path: 'x.bin', content: 'not base64!!' }, 'invalid_encoding');
    await expectError('delete_file', { sandbox_id: id, path: '.' }, 'invalid_path');
  });

  it('enforces the write and read caps with a message that names the cap', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 97).toString('base64');
    await expectError('upload', { sandbox_id: id, path: 'big.bin', content: big }, 'file_too_large', /1048576/);
    await berth.ok('python_exec', { sandbox_id: id, code: "open('big.dat', 'wb').write(b'x' * (2 * 1024 * 1024))" });
    await expectError('download', { sandbox_id: id, path: 'big.dat' }, 'file_too_large', /1048576/);
    await expectError('read_file', { sandbox_id: id, path: 'big.dat' }, 'file_too_large');
    // A ranged read within the cap works.
    const slice = await berth.ok<{ content: string; size: number; eof: boolean; bytes_read: number }>('read_file', { sandbox_id: id, path: 'big.dat', offset: 1000, length: 10 });
    expect(slice).toMatchObject({ content: 'xxxxxxxxxx', size: 2 * 1024 * 1024, eof: false, bytes_read: 10 });
  });

  it('truncates output of several MB, keeping head and tail', async () => {
    const r = await berth.ok<Exec>('python_exec', { sandbox_id: id, code: "print('HEAD'); print('y' * 5_000_000); print('TAIL')" });
    expect(r.success).toBe(true);
    expect(r.truncated).toBe(true);
    expect(r.output.length).toBeLessThan(21_000);
    expect(r.output.startsWith('HEAD\n')).toBe(true);
    expect(r.output.trimEnd().endsWith('TAIL')).toBe(true);
    expect(r.output).toContain('truncated');
    const sh = await berth.ok<{ stdout: string; truncated: boolean }>('shell_exec', { sandbox_id: id, command: 'head -c 3000000 /dev/zero | tr "\\0" z; echo END' });
    expect(sh.truncated).toBe(true);
    expect(sh.stdout.length).toBeLessThan(21_000);
    expect(sh.stdout.trimEnd().endsWith('END')).toBe(true);
  });

  it('interrupts `while True: pass` at the timeout and keeps earlier variables', async () => {
    await berth.ok('python_exec', { sandbox_id: id, code: 'kept = 1234' });
    const r = await berth.ok<Exec>('python_exec', { sandbox_id: id, code: 'while True: pass', timeout: 2 });
    expect(r.success).toBe(false);
    expect(r.timed_out).toBe(true);
    expect(r.kernel_restarted).toBe(false);
    expect(r.error).toMatch(/timed out after 2s/);
    const after = await berth.ok<Exec>('python_exec', { sandbox_id: id, code: 'print(kept)' });
    expect(after.output).toBe('1234\n');
  });

  it('kills a shell command at its timeout, whole process group included', async () => {
    const r = await berth.ok<{ timed_out: boolean; success: boolean }>('shell_exec', { sandbox_id: id, command: '(sleep 300 &) ; sleep 300', timeout: 1 });
    expect(r.timed_out).toBe(true);
    expect(r.success).toBe(false);
    const ps = await berth.ok<{ stdout: string }>('shell_exec', { sandbox_id: id, command: 'ps -eo args | grep -c "^sleep 300" || true' });
    expect(ps.stdout.trim()).toBe('0');
  });

  it('restarts a kernel that dies and says the state was lost', async () => {
    await berth.ok('python_exec', { sandbox_id: id, code: 'doomed = 1' });
    const r = await berth.ok<Exec>('python_exec', { sandbox_id: id, code: 'import os; os._exit(1)', timeout: 30 });
    expect(r.success).toBe(false);
    expect(r.kernel_restarted).toBe(true);
    const after = await berth.ok<Exec>('python_exec', { sandbox_id: id, code: "print('doomed' in globals())" });
    expect(after.output).toBe('False\n');
  });

  it('rejects malformed arguments without falling over', async () => {
    for (const [tool, args] of [
      ['python_exec', { sandbox_id: id }],
      ['python_exec', { sandbox_id: id, code: 42 }],
      ['python_exec', { sandbox_id: id, code: '1', timeout: -1 }],
      ['write_file', { sandbox_id: id, path: 'a.txt', content: 'x', mode: 'x' }],
      ['read_file', { sandbox_id: id, path: 'a.txt', encoding: 'latin1' }],
      ['create_sandbox', { ttl: 'soon' }],
    ] as const) {
      const result = await berth.call(tool, args);
      expect(result.isError, `${tool} ${JSON.stringify(args)}`).toBe(true);
    }
    await expectError('shell_exec', { sandbox_id: id, command: 'echo a\u0000b' }, 'invalid_argument', /NUL/);
    const alive = await berth.ok<Exec>('python_exec', { sandbox_id: id, code: 'print("still serving")' });
    expect(alive.output).toBe('still serving\n');
  });

  it('survives code that kills the agent itself: a clear error, then a fresh session on the same files', async () => {
    await berth.ok('write_file', { sandbox_id: id, path: 'survivor.txt', content: 'kept' });
    const killed = await berth.call('shell_exec', { sandbox_id: id, command: 'kill -9 $(pgrep -f "berth_agent.py serve")' });
    expect(killed.isError).toBe(true);
    expect(killed.code).toBe('sandbox_unavailable');
    expect(killed.text).toMatch(/next call starts a fresh session/);
    const after = await berth.ok<Exec>('python_exec', { sandbox_id: id, code: "print(open('survivor.txt').read())" });
    expect(after.output).toBe('kept\n');
  });

  it('lands a plain `pip install` in the workspace, importable after stop/resume without path tweaks', async () => {
    await berth.ok('write_file', { sandbox_id: id, path: 'pkgs/berthdemo/setup.py', content: "from setuptools import setup\nsetup(name='berthdemo', version='1.2.3', py_modules=['berthdemo'])\n" });
    await berth.ok('write_file', { sandbox_id: id, path: 'pkgs/berthdemo/berthdemo.py', content: "VERSION = '1.2.3'\n" });
    const install = await berth.ok<{ exit_code: number; stdout: string; stderr: string }>('shell_exec', {
      sandbox_id: id,
      command: 'pip install --no-index --no-build-isolation ./pkgs/berthdemo',
      timeout: 180,
    });
    expect(install.exit_code, install.stderr).toBe(0);
    await berth.ok('stop', { sandbox_id: id });
    const r = await berth.ok<Exec>('python_exec', { sandbox_id: id, code: 'import berthdemo; print(berthdemo.VERSION, berthdemo.__file__)' });
    expect(r.output).toMatch(/^1\.2\.3 \/workspace\/\.local\/lib\/python3\.\d+\/site-packages\/berthdemo\.py\n$/);
  });

  it('starts exactly one container for concurrent first calls', async () => {
    const fresh = (await berth.ok<{ sandbox_id: string }>('create_sandbox', {})).sandbox_id;
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => berth.ok<Exec & { session_id: string }>('python_exec', { sandbox_id: fresh, code: `print(${i})` })));
    expect(new Set(results.map((r) => r.session_id)).size).toBe(1);
    const { containersOf } = await import('./harness.js');
    expect(containersOf(fresh)).toHaveLength(1);
    await berth.ok('delete', { sandbox_id: fresh });
  });
});
