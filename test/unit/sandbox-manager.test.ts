import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { BerthError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { LABELS } from '../../src/runtime/driver.js';
import { FakeDriver } from '../../src/runtime/fake-driver.js';
import { containerName, SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { SqliteSandboxStore } from '../../src/store/sqlite-sandbox-store.js';

let driver: FakeDriver;
let store: SqliteSandboxStore;
let manager: SandboxManager;

function setup(overrides: Partial<Record<keyof Config, unknown>> = {}): void {
  manager?.close();
  store?.close();
  driver = new FakeDriver();
  store = new SqliteSandboxStore(':memory:');
  manager = new SandboxManager({ store, driver, config: loadConfig({}, { startupTimeoutS: 5, ...overrides }), logger: silentLogger() });
}

beforeEach(() => setup());
afterEach(() => {
  manager.close();
  store.close();
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'expected the call to fail').toBeInstanceOf(BerthError);
  return (error as BerthError).code;
}

describe('SandboxManager', () => {
  it('create writes the row and the volume but starts no container', async () => {
    const view = await manager.create({ name: 'demo', metadata: { k: 'v' } });
    expect(view).toMatchObject({ name: 'demo', status: 'idle', current_session_id: null, metadata: { k: 'v' }, expires_at: null });
    expect(view.sandbox_id).toMatch(/^sbx_[a-z2-9]{12}$/);
    expect(driver.startCount).toBe(0);
    expect(driver.volumes.get(`berth-ws-${view.sandbox_id}`)?.labels).toEqual({
      [LABELS.managed]: 'true',
      [LABELS.registry]: store.registryId,
      [LABELS.sandbox]: view.sandbox_id,
    });
    expect(manager.get(view.sandbox_id).status).toBe('idle');
    expect(manager.isLive(view.sandbox_id)).toBe(false);
  });

  it('a caller that gives up while the sandbox starts does not abort the start for the others', async () => {
    const { sandbox_id: id } = await manager.create();
    driver.startDelayMs = 100;
    const impatient = new AbortController();
    const first = manager.exec(id, 'x = 7', { signal: impatient.signal });
    const second = manager.exec(id, 'y = 3');
    setTimeout(() => impatient.abort(), 20);
    expect(await codeOf(first)).toBe('cancelled');
    const result = await second;
    expect(result.success).toBe(true);
    expect(driver.startCount).toBe(1);
    expect(manager.get(id).status).toBe('running');
  });

  it('reconcile repairs a sandbox left "stopping" by a process that died mid-stop', async () => {
    const { sandbox_id: id } = await manager.create();
    store.update(id, { status: 'stopping', currentSessionId: 'ses_gone' });
    const result = await manager.reconcile();
    expect(result.markedIdle).toBe(1);
    expect(manager.get(id)).toMatchObject({ status: 'idle', current_session_id: null });
    expect((await manager.exec(id, 'x = 1')).success).toBe(true);
  });

  it('create validates its options', async () => {
    expect(await codeOf(manager.create({ ttlS: -1 }))).toBe('invalid_argument');
    expect(await codeOf(manager.create({ idleTimeoutS: Number.NaN }))).toBe('invalid_argument');
    expect(await codeOf(manager.create({ name: 'x'.repeat(201) }))).toBe('invalid_argument');
    expect(store.count()).toBe(0);
    expect(driver.volumes.size).toBe(0);
  });

  it('a failed volume creation leaves no row behind', async () => {
    driver.createVolume = () => Promise.reject(new BerthError('runtime_unavailable', 'engine down'));
    expect(await codeOf(manager.create())).toBe('runtime_unavailable');
    expect(store.count()).toBe(0);
  });

  it('the first exec starts exactly one container, even for 5 concurrent calls', async () => {
    const { sandbox_id: id } = await manager.create();
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => manager.exec(id, `v${n} = ${n}`)));
    expect(driver.startCount).toBe(1);
    expect(driver.connectCount).toBe(1);
    const sessions = new Set(results.map((r) => r.session_id));
    expect(sessions.size).toBe(1);
    const view = manager.get(id);
    expect(view.status).toBe('running');
    expect(view.current_session_id).toBe(results[0]!.session_id);
    expect(store.find(id)?.containerId).toBe(driver.containerOf(id)?.id);
    expect(driver.containerOf(id)?.spec.name).toBe(containerName(id));
    expect(manager.isLive(id)).toBe(true);
  });

  it('the container gets the configured limits and the sandbox volume', async () => {
    setup({ memoryBytes: '256m', cpus: 0.5, network: 'bridge', readOnlyRoot: false });
    const { sandbox_id: id } = await manager.create({ idleTimeoutS: 42 });
    await manager.exec(id, 'x = 1');
    expect(driver.containerOf(id)?.spec).toMatchObject({
      sandboxId: id,
      registryId: store.registryId,
      volume: `berth-ws-${id}`,
      memoryBytes: 256 * 1024 * 1024,
      cpus: 0.5,
      network: 'bridge',
      readOnlyRoot: false,
      idleExitS: 42,
    });
  });

  it('variables persist within a session', async () => {
    const { sandbox_id: id } = await manager.create();
    expect((await manager.exec(id, 'x = 41')).success).toBe(true);
    const printed = await manager.exec(id, 'print(x)');
    expect(printed).toMatchObject({ success: true, output: '41\n', error: null });
    expect(printed.execution_count).toBe(2);
  });

  it('exec streams output to onOutput', async () => {
    const { sandbox_id: id } = await manager.create();
    await manager.exec(id, 'x = 7');
    const seen: string[] = [];
    await manager.exec(id, 'print(x)', { onOutput: (e) => seen.push(`${e.stream}:${e.text}`) });
    expect(seen).toEqual(['stdout:7\n']);
  });

  it('a failing program is a successful call with success false', async () => {
    const { sandbox_id: id } = await manager.create();
    const result = await manager.exec(id, 'print(nope)');
    expect(result).toMatchObject({ success: false, error_name: 'NameError' });
    expect(result.error).toContain("NameError: name 'nope' is not defined");
  });

  it('stop ends the session: idle, no session id, variables gone, files kept', async () => {
    const { sandbox_id: id } = await manager.create();
    const first = await manager.exec(id, 'x = 1');
    await manager.writeFile(id, 'data/keep.txt', Buffer.from('kept'));
    const stopped = await manager.stop(id);
    expect(stopped).toMatchObject({ status: 'idle', current_session_id: null });
    expect(driver.containers.size).toBe(0);
    expect(manager.isLive(id)).toBe(false);
    expect(store.findSession(first.session_id)?.endedAtMs).toEqual(expect.any(Number));

    const after = await manager.exec(id, 'print(x)');
    expect(after.success).toBe(false);
    expect(after.error_name).toBe('NameError');
    expect(after.error).toContain("NameError: name 'x' is not defined");
    expect(after.session_id).not.toBe(first.session_id);
    expect(driver.startCount).toBe(2);
    expect((await manager.readFile(id, 'data/keep.txt')).bytes.toString()).toBe('kept');
    expect((await manager.listFiles(id, '.', { recursive: true })).entries.map((e) => e.path)).toEqual(['data', 'data/keep.txt']);
  });

  it('stopping an idle sandbox is a no-op', async () => {
    const { sandbox_id: id } = await manager.create();
    expect(await manager.stop(id)).toMatchObject({ status: 'idle', current_session_id: null });
    expect(await manager.stop(id)).toMatchObject({ status: 'idle', current_session_id: null });
    expect(driver.startCount).toBe(0);
  });

  it.each([
    ['as soon as it begins', false],
    ['once it is under way', true],
  ])('stop during a start (%s) waits for it and ends that session', async (_when, wait) => {
    const { sandbox_id: id } = await manager.create();
    const sessionIds: string[] = [];
    const startSession = driver.startSession.bind(driver);
    driver.startSession = (spec, signal) => {
      sessionIds.push(spec.sessionId);
      return startSession(spec, signal);
    };
    const exec = manager.exec(id, 'x = 1');
    if (wait) await new Promise((resolve) => setImmediate(resolve));
    await manager.stop(id);
    await exec.catch(() => undefined);
    expect(manager.get(id)).toMatchObject({ status: 'idle', current_session_id: null });
    expect(driver.containers.size).toBe(0);
    expect(sessionIds).toHaveLength(1);
    expect(store.findSession(sessionIds[0]!)?.endedAtMs).toEqual(expect.any(Number));
  });

  it('delete removes container and volume; every later call is sandbox_not_found', async () => {
    const { sandbox_id: id } = await manager.create();
    await manager.exec(id, 'x = 1');
    await manager.writeFile(id, 'a.txt', Buffer.from('a'));
    await manager.delete(id);
    expect(driver.containers.size).toBe(0);
    expect(driver.volumes.size).toBe(0);
    expect(store.find(id)).toBeUndefined();
    expect(() => manager.get(id)).toThrow(expect.objectContaining({ code: 'sandbox_not_found' }));
    const calls: Array<() => Promise<unknown>> = [
      () => manager.exec(id, 'print(x)'),
      () => manager.shell(id, 'echo hi'),
      () => manager.readFile(id, 'a.txt'),
      () => manager.writeFile(id, 'a.txt', Buffer.from('b')),
      () => manager.listFiles(id),
      () => manager.stat(id, 'a.txt'),
      () => manager.deleteFile(id, 'a.txt'),
      () => manager.stop(id),
      () => manager.delete(id),
      () => manager.ensureRunning(id),
    ];
    for (const call of calls) expect(await codeOf(call())).toBe('sandbox_not_found');
    expect(driver.startCount).toBe(1);
    expect(manager.list().total).toBe(0);
  });

  it('delete during a start leaves nothing behind', async () => {
    const { sandbox_id: id } = await manager.create();
    const exec = manager.exec(id, 'x = 1').then(
      () => 'ok',
      (e: unknown) => (e as BerthError).code,
    );
    await manager.delete(id);
    expect(['ok', 'sandbox_not_found']).toContain(await exec);
    expect(driver.containers.size).toBe(0);
    expect(driver.volumes.size).toBe(0);
    expect(store.find(id)).toBeUndefined();
    expect(await codeOf(manager.exec(id, 'x = 1'))).toBe('sandbox_not_found');
  });

  it('delete of an idle sandbox removes its volume', async () => {
    const { sandbox_id: id } = await manager.create();
    await manager.delete(id);
    expect(driver.volumes.size).toBe(0);
    expect(await codeOf(manager.exec(id, 'x = 1'))).toBe('sandbox_not_found');
  });

  it('a missing image fails with image_not_found and leaves the sandbox idle', async () => {
    driver.imagePresent = false;
    const { sandbox_id: id } = await manager.create();
    expect(await codeOf(manager.exec(id, 'x = 1'))).toBe('image_not_found');
    expect(manager.get(id)).toMatchObject({ status: 'idle', current_session_id: null });
    expect(driver.startCount).toBe(0);
    driver.imagePresent = true;
    expect((await manager.exec(id, 'x = 1')).success).toBe(true);
    expect(manager.get(id).status).toBe('running');
  });

  it('a failed start leaves the sandbox idle and the session ended; the next call retries', async () => {
    const { sandbox_id: id } = await manager.create();
    driver.failNextStart = new BerthError('runtime_unavailable', 'engine down');
    const calls = await Promise.allSettled([manager.exec(id, 'x = 1'), manager.exec(id, 'x = 2')]);
    expect(calls.map((c) => c.status)).toEqual(['rejected', 'rejected']);
    expect(calls.map((c) => (c.status === 'rejected' ? (c.reason as BerthError).code : ''))).toEqual(['runtime_unavailable', 'runtime_unavailable']);
    expect(manager.get(id)).toMatchObject({ status: 'idle', current_session_id: null });
    expect(driver.containers.size).toBe(0);
    expect((await manager.exec(id, 'x = 3')).success).toBe(true);
    expect(driver.startCount).toBe(1);
  });

  it('refuses to create more than maxSandboxes', async () => {
    setup({ maxSandboxes: 2 });
    await manager.create();
    const second = await manager.create();
    expect(await codeOf(manager.create())).toBe('limit_exceeded');
    expect(store.count()).toBe(2);
    await manager.delete(second.sandbox_id);
    await expect(manager.create()).resolves.toMatchObject({ status: 'idle' });
  });

  it('list and get show sandboxes newest first', async () => {
    const a = await manager.create({ name: 'a' });
    await new Promise((resolve) => setTimeout(resolve, 2));
    const b = await manager.create({ name: 'b' });
    const listed = manager.list();
    expect(listed.total).toBe(2);
    expect(listed.sandboxes.map((s) => s.sandbox_id)).toEqual([b.sandbox_id, a.sandbox_id]);
    expect(manager.list({ limit: 1, offset: 1 }).sandboxes.map((s) => s.name)).toEqual(['a']);
    expect(await codeOf(Promise.resolve().then(() => manager.get('sbx_nope')))).toBe('sandbox_not_found');
    expect(await codeOf(Promise.resolve().then(() => manager.get('')))).toBe('invalid_argument');
  });

  it('file operations round-trip through the agent', async () => {
    const { sandbox_id: id } = await manager.create();
    const bytes = Buffer.from([0, 255, 1, 2]);
    expect(await manager.writeFile(id, '/workspace/bin/x.dat', bytes)).toMatchObject({ path: 'bin/x.dat', size: 4, written: 4, mode: 'w' });
    await manager.writeFile(id, 'bin/x.dat', Buffer.from([9]), { mode: 'a' });
    const read = await manager.readFile(id, './bin/x.dat');
    expect([...read.bytes]).toEqual([0, 255, 1, 2, 9]);
    expect([...(await manager.readFile(id, 'bin/x.dat', { offset: 1, length: 2 })).bytes]).toEqual([255, 1]);
    expect(await manager.stat(id, 'bin/x.dat')).toMatchObject({ type: 'file', size: 5 });
    expect(await codeOf(manager.readFile(id, 'bin/x.dat', { maxBytes: 2 }))).toBe('file_too_large');
    expect(await codeOf(manager.readFile(id, 'missing.txt'))).toBe('file_not_found');
    expect(await codeOf(manager.deleteFile(id, 'bin'))).toBe('is_a_directory');
    expect(await manager.deleteFile(id, 'bin', { recursive: true })).toMatchObject({ deleted: true, type: 'directory' });
    expect((await manager.listFiles(id)).entries).toEqual([]);
  });

  it('rejects bad paths and arguments before starting anything', async () => {
    const { sandbox_id: id } = await manager.create();
    expect(await codeOf(manager.readFile(id, '../x'))).toBe('invalid_path');
    expect(await codeOf(manager.writeFile(id, '/etc/passwd', Buffer.from('x')))).toBe('invalid_path');
    expect(await codeOf(manager.deleteFile(id, '/workspace'))).toBe('invalid_path');
    expect(await codeOf(manager.shell(id, 'ls', { cwd: '../..' }))).toBe('invalid_path');
    expect(await codeOf(manager.shell(id, '  '))).toBe('invalid_argument');
    expect(await codeOf(manager.exec(id, 'x = 1', { timeoutS: 0 }))).toBe('invalid_argument');
    setup({ maxWriteBytes: 4 });
    const other = await manager.create();
    expect(await codeOf(manager.writeFile(other.sandbox_id, 'a', Buffer.alloc(5)))).toBe('file_too_large');
    expect(driver.startCount).toBe(0);
  });

  it('shell runs commands in the session', async () => {
    const { sandbox_id: id } = await manager.create();
    const first = await manager.shell(id, 'echo hello');
    expect(first).toMatchObject({ exit_code: 0, stdout: 'hello\n' });
    expect((await manager.shell(id, 'exit 3')).exit_code).toBe(3);
    expect((await manager.exec(id, 'x = 1')).session_id).toBe(first.session_id);
  });

  it('sweep stops sandboxes idle for longer than their idle timeout', async () => {
    const { sandbox_id: busy } = await manager.create({ idleTimeoutS: 600 });
    const { sandbox_id: sleepy } = await manager.create({ idleTimeoutS: 60 });
    const { sandbox_id: never } = await manager.create({ idleTimeoutS: 0 });
    const { sandbox_id: idle } = await manager.create({ idleTimeoutS: 60 });
    for (const id of [busy, sleepy, never]) await manager.exec(id, 'x = 1');
    const result = await manager.sweep(Date.now() + 120_000);
    expect(result).toEqual({ stopped: [sleepy], deleted: [] });
    expect(manager.get(sleepy)).toMatchObject({ status: 'idle', current_session_id: null });
    expect(manager.get(busy).status).toBe('running');
    expect(manager.get(never).status).toBe('running');
    expect(manager.get(idle).status).toBe('idle');
    expect(driver.containerOf(sleepy)).toBeUndefined();
    // Files and all, it resumes on the next call.
    expect((await manager.exec(sleepy, 'print(x)')).error_name).toBe('NameError');
  });

  it('sweep uses the server default idle timeout', async () => {
    setup({ idleTimeoutS: 30 });
    const { sandbox_id: id } = await manager.create();
    await manager.exec(id, 'x = 1');
    expect((await manager.sweep(Date.now() + 10_000)).stopped).toEqual([]);
    expect((await manager.sweep(Date.now() + 31_000)).stopped).toEqual([id]);
  });

  it('sweep deletes expired sandboxes (ttl), running or not', async () => {
    const { sandbox_id: short } = await manager.create({ ttlS: 10 });
    const { sandbox_id: running } = await manager.create({ ttlS: 10 });
    const { sandbox_id: long } = await manager.create({ ttlS: 3600 });
    const { sandbox_id: forever } = await manager.create();
    await manager.exec(running, 'x = 1');
    expect(manager.get(short).expires_at).not.toBeNull();
    expect((await manager.sweep(Date.now() + 5_000)).deleted).toEqual([]);
    const result = await manager.sweep(Date.now() + 11_000);
    expect([...result.deleted].sort()).toEqual([short, running].sort());
    for (const id of [short, running]) expect(await codeOf(manager.exec(id, 'x = 1'))).toBe('sandbox_not_found');
    expect(driver.containerOf(running)).toBeUndefined();
    expect([...driver.volumes.keys()].sort()).toEqual([`berth-ws-${long}`, `berth-ws-${forever}`].sort());
  });

  it('the server default ttl applies to new sandboxes', async () => {
    setup({ ttlS: 60 });
    const { sandbox_id: id } = await manager.create();
    expect((await manager.sweep(Date.now() + 61_000)).deleted).toEqual([id]);
  });

  it('reconcile removes orphan containers and volumes older than the grace, and marks vanished sessions idle', async () => {
    const { sandbox_id: kept } = await manager.create();
    await manager.exec(kept, 'x = 1');
    const { sandbox_id: vanished } = await manager.create();
    await manager.exec(vanished, 'x = 1');
    // Leftovers of a sandbox whose row is gone (deleted by a crashed process).
    const labels = { [LABELS.managed]: 'true', [LABELS.registry]: store.registryId, [LABELS.sandbox]: 'sbx_gone' };
    await driver.createVolume('berth-ws-sbx_gone', labels);
    await driver.startSession({ ...driver.containerOf(kept)!.spec, sandboxId: 'sbx_gone', sessionId: 'ses_gone', name: 'berth-sbx_gone', volume: 'berth-ws-sbx_gone' });
    // Another registry's objects are never touched.
    await driver.createVolume('berth-ws-other', { ...labels, [LABELS.registry]: 'other-registry', [LABELS.sandbox]: 'sbx_other' });
    // A container removed behind Berth's back.
    await driver.removeSession(containerName(vanished));

    // Within the grace period the orphans stay (their creator may still be at work).
    const early = await manager.reconcile(Date.now());
    expect(early).toEqual({ removedContainers: 0, removedVolumes: 0, markedIdle: 1 });
    expect(driver.volumes.has('berth-ws-sbx_gone')).toBe(true);
    expect(manager.get(vanished)).toMatchObject({ status: 'idle', current_session_id: null });

    const late = await manager.reconcile(Date.now() + 120_000);
    expect(late).toEqual({ removedContainers: 1, removedVolumes: 1, markedIdle: 0 });
    expect(driver.volumes.has('berth-ws-sbx_gone')).toBe(false);
    expect(await driver.findSession('berth-sbx_gone')).toBeUndefined();
    expect(driver.volumes.has('berth-ws-other')).toBe(true);
    expect(manager.get(kept).status).toBe('running');
    expect((await manager.exec(kept, 'print(x)')).output).toBe('1\n');
    expect((await manager.exec(vanished, 'print(x)')).error_name).toBe('NameError');
  });

  it('reconcile removes exited containers of known sandboxes', async () => {
    const { sandbox_id: id } = await manager.create();
    await manager.exec(id, 'x = 1');
    driver.crash(id);
    expect(await manager.reconcile()).toEqual({ removedContainers: 1, removedVolumes: 0, markedIdle: 1 });
    expect(driver.containers.size).toBe(0);
    expect(manager.get(id).status).toBe('idle');
  });

  it('a container that dies makes the next call start a fresh session', async () => {
    const { sandbox_id: id } = await manager.create();
    const first = await manager.exec(id, 'x = 1');
    driver.crash(id);
    await new Promise((resolve) => setImmediate(resolve));
    expect(manager.isLive(id)).toBe(false);
    const next = await manager.exec(id, 'print(x)');
    expect(next.session_id).not.toBe(first.session_id);
    expect(next.error_name).toBe('NameError');
    expect(driver.startCount).toBe(2);
    expect(driver.containers.size).toBe(1); // the dead one was removed
    expect(manager.get(id)).toMatchObject({ status: 'running', current_session_id: next.session_id });
  });

  it('a call in flight when the container dies fails with sandbox_unavailable', async () => {
    const { sandbox_id: id } = await manager.create();
    await manager.exec(id, 'x = 1');
    const inFlight = manager.exec(id, 'print(x)');
    driver.crash(id);
    expect(await codeOf(inFlight)).toBe('sandbox_unavailable');
  });

  it('a dropped connection to a live container re-adopts it, kernel state and all', async () => {
    const { sandbox_id: id } = await manager.create();
    const first = await manager.exec(id, 'x = 5');
    driver.dropConnections(id);
    await new Promise((resolve) => setImmediate(resolve));
    const next = await manager.exec(id, 'print(x)');
    expect(next).toMatchObject({ success: true, output: '5\n', session_id: first.session_id });
    expect(driver.startCount).toBe(1);
    expect(driver.connectCount).toBe(2);
  });

  it('a second manager on the same registry adopts the running container', async () => {
    const { sandbox_id: id } = await manager.create();
    const first = await manager.exec(id, 'x = 9');
    const other = new SandboxManager({ store, driver, config: loadConfig({}), logger: silentLogger() });
    try {
      const result = await other.exec(id, 'print(x)');
      expect(result).toMatchObject({ output: '9\n', session_id: first.session_id });
      expect(driver.startCount).toBe(1);
    } finally {
      other.close();
    }
  });
});
