import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { BerthError } from '../errors.js';
import type { SandboxStatus } from '../sandbox/lifecycle.js';
import type { SandboxPatch, SandboxRecord, SandboxStore, SessionRecord } from '../sandbox/sandbox-store.js';
import { MIGRATIONS } from './migrations.js';

interface SandboxRow {
  id: string;
  name: string | null;
  status: string;
  image: string;
  volume: string;
  current_session_id: string | null;
  container_id: string | null;
  created_at_ms: number;
  updated_at_ms: number;
  last_active_at_ms: number;
  idle_timeout_s: number | null;
  expires_at_ms: number | null;
  metadata: string;
}

interface SessionRow {
  id: string;
  sandbox_id: string;
  container_id: string | null;
  started_at_ms: number;
  ended_at_ms: number | null;
}

const PATCH_COLUMNS: Record<keyof SandboxPatch, string> = {
  status: 'status',
  currentSessionId: 'current_session_id',
  containerId: 'container_id',
  lastActiveAtMs: 'last_active_at_ms',
  name: 'name',
  expiresAtMs: 'expires_at_ms',
};

/**
 * The registry in SQLite (WAL, busy timeout), so that several Berth processes — two IDE windows,
 * say — can share one file safely. Use `:memory:` in unit tests.
 */
export class SqliteSandboxStore implements SandboxStore {
  readonly registryId: string;
  private readonly db: Database.Database;

  constructor(path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma('synchronous = NORMAL');
      this.migrate();
      this.registryId = this.ensureRegistryId();
    } catch (error) {
      if (error instanceof BerthError) throw error;
      throw new BerthError('internal', `cannot open the registry at ${path}: ${(error as Error).message}. Set BERTH_DB or BERTH_HOME to a writable place.`, {
        cause: error,
      });
    }
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      this.db.transaction(() => {
        this.db.exec(migration.sql);
        this.db.pragma(`user_version = ${migration.version}`);
      }).immediate();
    }
  }

  private ensureRegistryId(): string {
    this.db.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('registry_id', ?)`).run(randomUUID());
    const row = this.db.prepare(`SELECT value FROM meta WHERE key = 'registry_id'`).get() as { value: string };
    return row.value;
  }

  insert(record: SandboxRecord): void {
    this.db
      .prepare(
        `INSERT INTO sandboxes (id, name, status, image, volume, current_session_id, container_id, created_at_ms, updated_at_ms,
           last_active_at_ms, idle_timeout_s, expires_at_ms, metadata)
         VALUES (@id, @name, @status, @image, @volume, @current_session_id, @container_id, @created_at_ms, @updated_at_ms,
           @last_active_at_ms, @idle_timeout_s, @expires_at_ms, @metadata)`,
      )
      .run(toRow(record));
  }

  find(id: string): SandboxRecord | undefined {
    const row = this.db.prepare(`SELECT * FROM sandboxes WHERE id = ?`).get(id) as SandboxRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(options: { limit?: number; offset?: number } = {}): SandboxRecord[] {
    const rows = this.db
      .prepare(`SELECT * FROM sandboxes ORDER BY created_at_ms DESC, id LIMIT ? OFFSET ?`)
      .all(options.limit ?? -1, options.offset ?? 0) as SandboxRow[];
    return rows.map(fromRow);
  }

  listAfter(afterId: string | undefined, limit: number): SandboxRecord[] {
    const rows = this.db.prepare(`SELECT * FROM sandboxes WHERE id > ? ORDER BY id LIMIT ?`).all(afterId ?? '', limit) as SandboxRow[];
    return rows.map(fromRow);
  }

  count(): number {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM sandboxes`).get() as { n: number }).n;
  }

  update(id: string, patch: SandboxPatch): SandboxRecord | undefined {
    const sets: string[] = ['updated_at_ms = @updated_at_ms'];
    const params: Record<string, unknown> = { id, updated_at_ms: Date.now() };
    for (const [key, column] of Object.entries(PATCH_COLUMNS) as Array<[keyof SandboxPatch, string]>) {
      if (patch[key] === undefined) continue;
      sets.push(`${column} = @${column}`);
      params[column] = patch[key];
    }
    this.db.prepare(`UPDATE sandboxes SET ${sets.join(', ')} WHERE id = @id`).run(params);
    return this.find(id);
  }

  remove(id: string): void {
    this.db.transaction(() => {
      this.db.prepare(`DELETE FROM sandboxes WHERE id = ?`).run(id);
      this.db.prepare(`DELETE FROM sessions WHERE sandbox_id = ?`).run(id);
    })();
  }

  insertSession(session: SessionRecord): void {
    this.db
      .prepare(`INSERT OR REPLACE INTO sessions (id, sandbox_id, container_id, started_at_ms, ended_at_ms) VALUES (?, ?, ?, ?, ?)`)
      .run(session.id, session.sandboxId, session.containerId, session.startedAtMs, session.endedAtMs);
  }

  endSession(id: string, endedAtMs: number): void {
    this.db.prepare(`UPDATE sessions SET ended_at_ms = ? WHERE id = ? AND ended_at_ms IS NULL`).run(endedAtMs, id);
  }

  findSession(id: string): SessionRecord | undefined {
    const row = this.db.prepare(`SELECT * FROM sessions WHERE id = ?`).get(id) as SessionRow | undefined;
    if (!row) return undefined;
    return { id: row.id, sandboxId: row.sandbox_id, containerId: row.container_id, startedAtMs: row.started_at_ms, endedAtMs: row.ended_at_ms };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toRow(r: SandboxRecord): SandboxRow {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    image: r.image,
    volume: r.volume,
    current_session_id: r.currentSessionId,
    container_id: r.containerId,
    created_at_ms: r.createdAtMs,
    updated_at_ms: r.updatedAtMs,
    last_active_at_ms: r.lastActiveAtMs,
    idle_timeout_s: r.idleTimeoutS,
    expires_at_ms: r.expiresAtMs,
    metadata: JSON.stringify(r.metadata),
  };
}

function fromRow(row: SandboxRow): SandboxRecord {
  return {
    id: row.id,
    name: row.name,
    status: row.status as SandboxStatus,
    image: row.image,
    volume: row.volume,
    currentSessionId: row.current_session_id,
    containerId: row.container_id,
    createdAtMs: row.created_at_ms,
    updatedAtMs: row.updated_at_ms,
    lastActiveAtMs: row.last_active_at_ms,
    idleTimeoutS: row.idle_timeout_s,
    expiresAtMs: row.expires_at_ms,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
  };
}
