import type { AgentChannel } from '../agent/agent-client.js';

/**
 * The runtime port: everything the manager needs from a container engine, in Berth's own types.
 * Docker implements it today (runtime/docker); a Kubernetes driver (a pod per session, a PVC per
 * workspace) would implement the same interface.
 */

/** Labels on every object Berth creates; reconciliation finds its objects by them. */
export const LABELS = {
  managed: 'berth.managed',
  registry: 'berth.registry',
  sandbox: 'berth.sandbox',
  session: 'berth.session',
} as const;

export interface SessionSpec {
  sandboxId: string;
  sessionId: string;
  registryId: string;
  /** Container name; one per sandbox, which makes a concurrent second start fail with a conflict. */
  name: string;
  volume: string;
  image: string;
  memoryBytes: number;
  cpus: number;
  pidsLimit: number;
  tmpfsBytes: number;
  network: string;
  readOnlyRoot: boolean;
  /** The agent ends its container after this long with no connection and no call; 0 never. */
  idleExitS: number;
}

export interface SessionInfo {
  /** The engine's id of the container. */
  containerId: string;
  name: string;
  sandboxId: string;
  sessionId: string;
  running: boolean;
}

export interface RuntimeInfo {
  engine: string;
  version: string;
  apiVersion: string;
}

export interface RuntimeObjects {
  sessions: Array<SessionInfo & { createdAtMs: number }>;
  volumes: Array<{ name: string; sandboxId: string; createdAtMs: number }>;
}

export interface RuntimeDriver {
  /** Engine facts; throws `runtime_unavailable` when it does not answer. */
  ping(signal?: AbortSignal): Promise<RuntimeInfo>;
  imageExists(image: string): Promise<boolean>;
  createVolume(name: string, labels: Record<string, string>): Promise<void>;
  /** Removes a volume; a missing one is fine. */
  removeVolume(name: string): Promise<void>;
  /** Creates and starts a session's container. A name already taken throws `conflict`. */
  startSession(spec: SessionSpec, signal?: AbortSignal): Promise<SessionInfo>;
  /** The container with that name, if any. */
  findSession(name: string): Promise<SessionInfo | undefined>;
  /** Opens a fresh byte channel to the agent of a running container. */
  connect(containerId: string, signal?: AbortSignal): Promise<AgentChannel>;
  /** Kills and removes a container; a missing one is fine. */
  removeSession(containerIdOrName: string): Promise<void>;
  /** Berth's containers and volumes of one registry. */
  listObjects(registryId: string): Promise<RuntimeObjects>;
}
