import { BerthError } from '../errors.js';

/**
 * Sandbox lifecycle. `idle`: the workspace volume exists, no container. `starting`: a container is
 * being created for a new session. `running`: a session's container answers. `stopping`: the
 * session is being ended. `deleting`: container and volume are being removed; the row goes when
 * that is done.
 */
export type SandboxStatus = 'idle' | 'starting' | 'running' | 'stopping' | 'deleting';

export type LifecycleEvent = 'start' | 'started' | 'start_failed' | 'stop' | 'stopped' | 'session_lost' | 'adopt' | 'delete';

/** Every allowed transition, in one place. Throws `conflict` for a transition that makes no sense. */
export function transition(from: SandboxStatus, event: LifecycleEvent): SandboxStatus {
  switch (event) {
    case 'start':
      if (from === 'idle' || from === 'starting' || from === 'running') return 'starting';
      break;
    case 'adopt':
    case 'started':
      if (from === 'starting' || from === 'idle' || from === 'running') return 'running';
      break;
    case 'start_failed':
    case 'session_lost':
    case 'stopped':
      if (from !== 'deleting') return 'idle';
      break;
    case 'stop':
      if (from !== 'deleting') return 'stopping';
      break;
    case 'delete':
      return 'deleting';
  }
  throw new BerthError('conflict', `the sandbox is ${from}; cannot ${event.replace('_', ' ')} now`);
}
