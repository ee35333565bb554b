import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import { transition, type LifecycleEvent, type SandboxStatus } from '../../src/sandbox/lifecycle.js';

const STATUSES: SandboxStatus[] = ['idle', 'starting', 'running', 'stopping', 'deleting'];
const EVENTS: LifecycleEvent[] = ['start', 'started', 'start_failed', 'stop', 'stopped', 'session_lost', 'adopt', 'delete'];

/** The whole table: from -> event -> next status, or null when refused. */
const TABLE: Record<SandboxStatus, Record<LifecycleEvent, SandboxStatus | null>> = {
  idle: { start: 'starting', started: 'running', start_failed: 'idle', stop: 'stopping', stopped: 'idle', session_lost: 'idle', adopt: 'running', delete: 'deleting' },
  starting: { start: 'starting', started: 'running', start_failed: 'idle', stop: 'stopping', stopped: 'idle', session_lost: 'idle', adopt: 'running', delete: 'deleting' },
  running: { start: 'starting', started: 'running', start_failed: 'idle', stop: 'stopping', stopped: 'idle', session_lost: 'idle', adopt: 'running', delete: 'deleting' },
  stopping: { start: null, started: null, start_failed: 'idle', stop: 'stopping', stopped: 'idle', session_lost: 'idle', adopt: null, delete: 'deleting' },
  deleting: { start: null, started: null, start_failed: null, stop: null, stopped: null, session_lost: null, adopt: null, delete: 'deleting' },
};

describe('transition', () => {
  for (const from of STATUSES) {
    for (const event of EVENTS) {
      const expected = TABLE[from][event];
      if (expected === null) {
        it(`refuses ${event} from ${from} with conflict`, () => {
          let caught: unknown;
          try {
            transition(from, event);
          } catch (error) {
            caught = error;
          }
          expect(caught).toBeInstanceOf(BerthError);
          expect((caught as BerthError).code).toBe('conflict');
          expect((caught as BerthError).message).toContain(from);
        });
      } else {
        it(`${from} --${event}--> ${expected}`, () => {
          expect(transition(from, event)).toBe(expected);
        });
      }
    }
  }

  it('a deleted sandbox can never be started again', () => {
    expect(() => transition('deleting', 'start')).toThrow(/deleting; cannot start now/);
  });
});
