import { BerthError } from '../../errors.js';

interface DockerishError {
  statusCode?: number;
  code?: string;
  message?: string;
  json?: { message?: string } | null;
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** Translates an error thrown by dockerode into Berth's taxonomy, once, at the adapter boundary. */
export function fromDockerError(error: unknown, what: string): BerthError {
  if (error instanceof BerthError) return error;
  const e = (error ?? {}) as DockerishError;
  const detail = e.json?.message ?? e.message ?? String(error);
  if (e.code && UNREACHABLE.has(e.code)) {
    return new BerthError(
      'runtime_unavailable',
      `the Docker engine cannot be reached (${e.code}) while trying to ${what}. Start Docker (or set DOCKER_HOST) and run \`berth doctor\`.`,
      { cause: error },
    );
  }
  if (e.statusCode === 404 && /no such image/i.test(detail)) {
    return new BerthError('image_not_found', `the sandbox image is missing on the Docker engine (${detail}). Build it with \`berth image build\`.`, {
      cause: error,
    });
  }
  if (e.statusCode === 409) return new BerthError('conflict', `Docker refused to ${what}: ${detail}`, { cause: error });
  if (e.statusCode === 404) return new BerthError('sandbox_unavailable', `Docker could not ${what}: ${detail}`, { cause: error });
  return new BerthError('runtime_unavailable', `Docker failed to ${what}: ${detail}`, { cause: error });
}

export function isDockerNotFound(error: unknown): boolean {
  return (error as DockerishError | undefined)?.statusCode === 404;
}
