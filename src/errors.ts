/**
 * One error taxonomy for Berth. Every expected failure is a {@link BerthError} with a stable string
 * `code`; the fronts map codes once (MCP: `isError` results, HTTP: statuses) and never parse
 * messages. Messages say what happened and what to do next.
 */
export const ERROR_CODES = {
  /** No sandbox with that id (never existed, or deleted). */
  sandbox_not_found: 404,
  /** A path that is empty, contains NUL, or resolves outside /workspace (also through a symlink). */
  invalid_path: 400,
  /** The file or directory does not exist. */
  file_not_found: 404,
  /** A directory where a file was expected. */
  is_a_directory: 400,
  /** A file where a directory was expected (a parent path component, or `cwd`). */
  not_a_directory: 400,
  /** The file is larger than the configured cap for this operation. */
  file_too_large: 413,
  /** Content could not be decoded as asked (non-UTF-8 through `encoding: utf8`, bad base64). */
  invalid_encoding: 400,
  /** The call did not finish within its deadline. */
  timeout: 504,
  /** The Docker engine cannot be reached. */
  runtime_unavailable: 503,
  /** The sandbox image is not present on the Docker engine. */
  image_not_found: 503,
  /** A configured limit (count of sandboxes, request size) would be exceeded. */
  limit_exceeded: 413,
  /** An argument is missing or malformed. */
  invalid_argument: 400,
  /** The kernel died or was restarted; variables are lost. */
  kernel_restarted: 200,
  /** The Python kernel could not start in the sandbox. */
  kernel_unavailable: 503,
  /** The sandbox's container stopped answering (it crashed or was removed outside Berth). */
  sandbox_unavailable: 503,
  /** The caller cancelled the call. */
  cancelled: 499,
  /** The sandbox user may not do that to that path. */
  permission_denied: 403,
  /** Authentication is missing or wrong (HTTP fronts). */
  unauthorized: 401,
  /** The request's Host or Origin is not allowed (DNS-rebinding guard). */
  forbidden: 403,
  /** No such HTTP route. */
  not_found: 404,
  /** The HTTP route exists but not with this method. */
  method_not_allowed: 405,
  /** The sandbox is being changed by another call (for example being deleted). */
  conflict: 409,
  /** Filesystem error inside the sandbox. */
  io_error: 500,
  /** A bug or an unexpected failure. */
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export class BerthError extends Error {
  override readonly name = 'BerthError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** HTTP status for this error's code. */
  get status(): number {
    return ERROR_CODES[this.code];
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** Anything thrown, as a BerthError (unknown errors become `internal`). */
export function toBerthError(error: unknown): BerthError {
  if (error instanceof BerthError) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    return new BerthError('cancelled', 'the call was cancelled', { cause: error });
  }
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new BerthError('timeout', 'the call did not finish in time', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new BerthError('internal', `unexpected error: ${message}`, { cause: error });
}

export function sandboxNotFound(id: string): BerthError {
  return new BerthError(
    'sandbox_not_found',
    `sandbox "${id}" does not exist (it may have been deleted). List your sandboxes (list_sandboxes, GET /v1/sandboxes) or create a new one (create_sandbox, POST /v1/sandboxes).`,
    { details: { sandbox_id: id } },
  );
}
