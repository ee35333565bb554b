/** Numbered migrations; each runs once, in order, inside a transaction. Never edit a shipped one. */
export const MIGRATIONS: ReadonlyArray<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE sandboxes (
        id TEXT PRIMARY KEY,
        name TEXT,
        status TEXT NOT NULL,
        image TEXT NOT NULL,
        volume TEXT NOT NULL,
        current_session_id TEXT,
        container_id TEXT,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        last_active_at_ms INTEGER NOT NULL,
        idle_timeout_s REAL,
        expires_at_ms INTEGER,
        metadata TEXT NOT NULL DEFAULT '{}'
      );
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        sandbox_id TEXT NOT NULL,
        container_id TEXT,
        started_at_ms INTEGER NOT NULL,
        ended_at_ms INTEGER
      );
      CREATE INDEX sessions_by_sandbox ON sessions (sandbox_id);
    `,
  },
];
