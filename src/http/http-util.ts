import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config.js';
import { BerthError, toBerthError } from '../errors.js';

/** JSON bodies carry at most one write's content, base64-encoded, plus room for the envelope. */
export function jsonBodyLimitBytes(config: Config): number {
  return Math.ceil((config.maxWriteBytes * 4) / 3) + 64 * 1024;
}

/** Reads a JSON body of at most `limitBytes`; larger ones fail with 413 naming the limit. */
export async function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limitBytes) throw tooLarge(limitBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) {
      req.resume();
      throw tooLarge(limitBytes);
    }
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new BerthError('invalid_argument', 'the request body is not valid JSON');
  }
}

function tooLarge(limitBytes: number): BerthError {
  return new BerthError(
    'limit_exceeded',
    `the request body is larger than the limit of ${limitBytes} bytes (set by BERTH_MAX_WRITE_BYTES, plus room for base64 and JSON); upload large files as multipart to /filesystem/upload`,
    { details: { limit: limitBytes } },
  );
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The error envelope `{"error": {code, message, request_id, details}}` with the code's status. */
export function sendError(res: ServerResponse, error: unknown, requestId?: string): void {
  const e = toBerthError(error);
  sendJson(res, e.status >= 400 ? e.status : 500, {
    error: { code: e.code, message: e.message, ...(requestId ? { request_id: requestId } : {}), details: e.details },
  });
}
