import { posix } from 'node:path';
import { BerthError } from '../errors.js';

export const WORKSPACE = '/workspace';
const MAX_PATH_CHARS = 4096;

/**
 * Normalises a path given by a caller into one relative to /workspace ('.' for the root).
 * Accepts relative paths and absolute ones inside /workspace; rejects NUL bytes and anything that
 * leaves the workspace. Symlinks are checked by the agent after realpath, where the truth is.
 */
export function toWorkspacePath(input: unknown, what = 'path'): string {
  if (typeof input !== 'string' || input.trim() === '') {
    throw new BerthError('invalid_path', `${what} must be a non-empty string, relative to /workspace (for example "data/input.csv")`);
  }
  if (input.includes('\0')) throw new BerthError('invalid_path', `${what} contains a NUL byte`, { details: { path: input } });
  if (input.length > MAX_PATH_CHARS) throw new BerthError('invalid_path', `${what} is longer than ${MAX_PATH_CHARS} characters`);
  let candidate = input.replace(/\\/g, '/');
  if (candidate.startsWith('/')) {
    const normal = posix.normalize(candidate);
    if (normal !== WORKSPACE && !normal.startsWith(`${WORKSPACE}/`)) {
      throw new BerthError('invalid_path', `${what} "${input}" is outside /workspace; use a path relative to /workspace or under /workspace/`, {
        details: { path: input },
      });
    }
    candidate = normal === WORKSPACE ? '.' : normal.slice(WORKSPACE.length + 1);
  }
  const relative = posix.normalize(candidate).replace(/\/+$/, '') || '.';
  if (relative === '..' || relative.startsWith('../')) {
    throw new BerthError('invalid_path', `${what} "${input}" leaves /workspace; paths must stay inside the workspace`, {
      details: { path: input },
    });
  }
  return relative;
}
