import type { SandboxStatus } from './lifecycle.js';

/** A sandbox as the registry keeps it. Times are epoch milliseconds. */
export interface SandboxRecord {
  id: string;
  name: string | null;
  status: SandboxStatus;
  image: string;
  volume: string;
  currentSessionId: string | null;
  containerId: string | null;
  createdAtMs: number;
  updatedAtMs: number;
  lastActiveAtMs: number;
  /** Auto-stop after this many seconds without calls; null uses the server default, 0 never. */
  idleTimeoutS: number | null;
  /** Auto-delete at this time; null never. */
  expiresAtMs: number | null;
  metadata: Record<string, string>;
}

export interface SessionRecord {
  id: string;
  sandboxId: string;
  containerId: string | null;
  startedAtMs: number;
  endedAtMs: number | null;
}

export type SandboxPatch = Partial<Pick<SandboxRecord, 'status' | 'currentSessionId' | 'containerId' | 'lastActiveAtMs' | 'name' | 'expiresAtMs'>>;

/**
 * The registry port. SQLite implements it today (store/); it is free of SQLite types so that a
 * PostgreSQL store can replace it for several manager replicas.
 */
export interface SandboxStore {
  /** Stable id of this registry; labels Docker objects so that each registry reconciles only its own. */
  readonly registryId: string;
  insert(record: SandboxRecord): void;
  find(id: string): SandboxRecord | undefined;
  list(options?: { limit?: number; offset?: number }): SandboxRecord[];
  /** Sandboxes with ids greater than `afterId`, in id order (cursor pagination). */
  listAfter(afterId: string | undefined, limit: number): SandboxRecord[];
  count(): number;
  update(id: string, patch: SandboxPatch): SandboxRecord | undefined;
  remove(id: string): void;
  insertSession(session: SessionRecord): void;
  endSession(id: string, endedAtMs: number): void;
  findSession(id: string): SessionRecord | undefined;
  close(): void;
}
