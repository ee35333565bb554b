import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SandboxRecord } from '../../src/sandbox/sandbox-store.js';
import { SqliteSandboxStore } from '../../src/store/sqlite-sandbox-store.js';

function record(id: string, createdAtMs: number, extra: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    id,
    name: `name-${id}`,
    status: 'idle',
    image: 'img:1',
    volume: `berth-ws-${id}`,
    currentSessionId: null,
    containerId: null,
    createdAtMs,
    updatedAtMs: createdAtMs,
    lastActiveAtMs: createdAtMs,
    idleTimeoutS: null,
    expiresAtMs: null,
    metadata: {},
    ...extra,
  };
}

const stores: SqliteSandboxStore[] = [];
const dirs: string[] = [];
function open(path: string): SqliteSandboxStore {
  const store = new SqliteSandboxStore(path);
  stores.push(store);
  return store;
}

afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('SqliteSandboxStore (:memory:)', () => {
  it('has a registry id', () => {
    const store = open(':memory:');
    expect(store.registryId).toMatch(/^[0-9a-f-]{36}$/);
    expect(open(':memory:').registryId).not.toBe(store.registryId);
  });

  it('inserts and finds a record, all fields round-tripped', () => {
    const store = open(':memory:');
    const r = record('sbx_a', 1000, { idleTimeoutS: 60, expiresAtMs: 99_000, metadata: { team: 'x', 'a b': 'ü' }, name: null });
    store.insert(r);
    expect(store.find('sbx_a')).toEqual(r);
    expect(store.find('sbx_missing')).toBeUndefined();
  });

  it('refuses a duplicate id', () => {
    const store = open(':memory:');
    store.insert(record('sbx_a', 1));
    expect(() => store.insert(record('sbx_a', 2))).toThrow();
  });

  it('lists newest first, with limit and offset, and counts', () => {
    const store = open(':memory:');
    store.insert(record('sbx_old', 1000));
    store.insert(record('sbx_new', 3000));
    store.insert(record('sbx_mid', 2000));
    expect(store.count()).toBe(3);
    expect(store.list().map((r) => r.id)).toEqual(['sbx_new', 'sbx_mid', 'sbx_old']);
    expect(store.list({ limit: 2 }).map((r) => r.id)).toEqual(['sbx_new', 'sbx_mid']);
    expect(store.list({ limit: 2, offset: 2 }).map((r) => r.id)).toEqual(['sbx_old']);
    expect(store.list({ offset: 1 }).map((r) => r.id)).toEqual(['sbx_mid', 'sbx_old']);
  });

  it('updates only the patched fields, including back to null', () => {
    const store = open(':memory:');
    store.insert(record('sbx_a', 1000));
    const running = store.update('sbx_a', { status: 'running', currentSessionId: 'ses_1', containerId: 'c1', lastActiveAtMs: 5000 });
    expect(running).toMatchObject({ status: 'running', currentSessionId: 'ses_1', containerId: 'c1', lastActiveAtMs: 5000, name: 'name-sbx_a', createdAtMs: 1000 });
    expect(running!.updatedAtMs).toBeGreaterThan(1000);
    const idle = store.update('sbx_a', { status: 'idle', currentSessionId: null, containerId: null });
    expect(idle).toMatchObject({ status: 'idle', currentSessionId: null, containerId: null, lastActiveAtMs: 5000 });
    expect(store.update('sbx_missing', { status: 'idle' })).toBeUndefined();
  });

  it('removes a record and its sessions', () => {
    const store = open(':memory:');
    store.insert(record('sbx_a', 1));
    store.insert(record('sbx_b', 2));
    store.insertSession({ id: 'ses_a', sandboxId: 'sbx_a', containerId: null, startedAtMs: 10, endedAtMs: null });
    store.insertSession({ id: 'ses_b', sandboxId: 'sbx_b', containerId: null, startedAtMs: 10, endedAtMs: null });
    store.remove('sbx_a');
    expect(store.find('sbx_a')).toBeUndefined();
    expect(store.findSession('ses_a')).toBeUndefined();
    expect(store.find('sbx_b')).toBeDefined();
    expect(store.findSession('ses_b')).toBeDefined();
    expect(store.count()).toBe(1);
  });

  it('records sessions: insert, replace, end once', () => {
    const store = open(':memory:');
    store.insert(record('sbx_a', 1));
    store.insertSession({ id: 'ses_1', sandboxId: 'sbx_a', containerId: null, startedAtMs: 10, endedAtMs: null });
    store.insertSession({ id: 'ses_1', sandboxId: 'sbx_a', containerId: 'c1', startedAtMs: 10, endedAtMs: null });
    expect(store.findSession('ses_1')).toEqual({ id: 'ses_1', sandboxId: 'sbx_a', containerId: 'c1', startedAtMs: 10, endedAtMs: null });
    store.endSession('ses_1', 20);
    store.endSession('ses_1', 30); // the first end wins
    expect(store.findSession('ses_1')?.endedAtMs).toBe(20);
    expect(store.findSession('ses_missing')).toBeUndefined();
  });
});

describe('SqliteSandboxStore (file)', () => {
  function tempDb(): string {
    const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
    dirs.push(dir);
    return join(dir, 'nested', 'berth.db');
  }

  it('keeps its registry id and rows across reopen', () => {
    const path = tempDb();
    const first = open(path);
    const registryId = first.registryId;
    first.insert(record('sbx_a', 1000, { metadata: { k: 'v' } }));
    first.update('sbx_a', { status: 'running', currentSessionId: 'ses_1' });
    first.insertSession({ id: 'ses_1', sandboxId: 'sbx_a', containerId: 'c1', startedAtMs: 10, endedAtMs: null });
    first.close();

    const second = open(path);
    expect(second.registryId).toBe(registryId);
    expect(second.find('sbx_a')).toMatchObject({ id: 'sbx_a', status: 'running', currentSessionId: 'ses_1', metadata: { k: 'v' } });
    expect(second.findSession('ses_1')).toMatchObject({ containerId: 'c1', endedAtMs: null });
    expect(second.count()).toBe(1);
  });

  it('two stores on one file see each other (two server processes)', () => {
    const path = tempDb();
    const a = open(path);
    const b = open(path);
    expect(b.registryId).toBe(a.registryId);
    a.insert(record('sbx_a', 1));
    expect(b.find('sbx_a')?.id).toBe('sbx_a');
    b.remove('sbx_a');
    expect(a.find('sbx_a')).toBeUndefined();
  });

  it('close is idempotent', () => {
    const store = open(tempDb());
    store.close();
    expect(() => store.close()).not.toThrow();
  });

  it('an unopenable path is an internal BerthError naming BERTH_DB', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
    dirs.push(dir);
    // A directory is not a database file.
    expect(() => new SqliteSandboxStore(dir)).toThrow(/BERTH_DB/);
  });
});
