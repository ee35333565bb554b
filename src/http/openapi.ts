import type { Config } from '../config.js';
import { SERVER_VERSION } from '../mcp/server.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const pathParam = { name: 'sandbox_id', in: 'path', required: true, schema: { type: 'string' } };
const pathQuery = { name: 'path', in: 'query', required: true, schema: { type: 'string' }, description: 'Path relative to /workspace' };
const errors = {
  '400': { description: 'invalid_argument, invalid_path, invalid_encoding, is_a_directory', ...json(ref('Error')) },
  '401': { description: 'unauthorized', ...json(ref('Error')) },
  '404': { description: 'sandbox_not_found, file_not_found', ...json(ref('Error')) },
  '413': { description: 'file_too_large, limit_exceeded', ...json(ref('Error')) },
  '503': { description: 'runtime_unavailable, image_not_found', ...json(ref('Error')) },
  '504': { description: 'timeout', ...json(ref('Error')) },
};

function op(summary: string, responses: Record<string, object>, extra: object = {}) {
  return { summary, parameters: [pathParam], responses: { ...responses, ...errors }, ...extra };
}

/** The OpenAPI 3.1 document of REST API v1, served at /v1/openapi.json. */
export function openApiDocument(config: Config, serverUrl: string): object {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Berth REST API',
      version: SERVER_VERSION,
      description: 'Docker-backed Python sandboxes. Paths, fields and status codes follow Bay API v1; Berth adds fields. Errors are {"error": {code, message, request_id, details}}.',
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    paths: {
      '/v1/sandboxes': {
        post: {
          summary: 'Create a sandbox (no container starts until the first call that needs one)',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string' } }],
          requestBody: json(ref('CreateSandbox')),
          responses: { '201': { description: 'created', ...json(ref('Sandbox')) }, ...errors },
        },
        get: {
          summary: 'List sandboxes (cursor pagination, id order)',
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
            { name: 'status', in: 'query', schema: { type: 'string', enum: ['idle', 'starting', 'ready'] } },
          ],
          responses: {
            '200': { description: 'a page', ...json({ type: 'object', properties: { items: { type: 'array', items: ref('Sandbox') }, next_cursor: { type: ['string', 'null'] } } }) },
            ...errors,
          },
        },
      },
      '/v1/sandboxes/{sandbox_id}': {
        get: op('Get a sandbox', { '200': { description: 'the sandbox', ...json(ref('Sandbox')) } }),
        delete: op('Delete a sandbox: container and workspace volume', { '204': { description: 'deleted' } }),
      },
      '/v1/sandboxes/{sandbox_id}/stop': { post: op('Stop: container and kernel end, files stay', { '200': { description: 'stopped', ...json({ type: 'object', properties: { status: { const: 'stopped' } } }) } }) },
      '/v1/sandboxes/{sandbox_id}/keepalive': { post: op('Postpone the idle stop', { '200': { description: 'ok' } }) },
      '/v1/sandboxes/{sandbox_id}/extend_ttl': {
        post: op('Extend the TTL', { '200': { description: 'the sandbox', ...json(ref('Sandbox')) } }, { requestBody: json({ type: 'object', required: ['extend_by'], properties: { extend_by: { type: 'number' } } }) }),
      },
      '/v1/sandboxes/{sandbox_id}/python/exec': {
        post: op('Run Python in the persistent kernel; a failing program is 200 with success false', { '200': { description: 'result', ...json(ref('PythonExecResult')) } }, {
          requestBody: json({ type: 'object', required: ['code'], properties: { code: { type: 'string' }, timeout: { type: 'number', description: 'seconds' }, include_code: { type: 'boolean' } } }),
        }),
      },
      '/v1/sandboxes/{sandbox_id}/shell/exec': {
        post: op('Run a bash command', { '200': { description: 'result', ...json(ref('ShellExecResult')) } }, {
          requestBody: json({ type: 'object', required: ['command'], properties: { command: { type: 'string' }, cwd: { type: 'string' }, timeout: { type: 'number' } } }),
        }),
      },
      '/v1/sandboxes/{sandbox_id}/filesystem/files': {
        get: op('Read a text file', { '200': { description: 'content', ...json({ type: 'object', properties: { content: { type: 'string' }, path: { type: 'string' }, size: { type: 'integer' } } }) } }, {
          parameters: [pathParam, pathQuery, { name: 'encoding', in: 'query', schema: { type: 'string', enum: ['utf8', 'base64'] } }],
        }),
        put: op('Write a file (parents are created)', { '200': { description: 'written' } }, {
          requestBody: json({ type: 'object', required: ['path', 'content'], properties: { path: { type: 'string' }, content: { type: 'string' }, encoding: { enum: ['utf8', 'base64'] }, mode: { enum: ['w', 'a'] } } }),
        }),
        delete: op('Delete a file or directory', { '200': { description: 'deleted' } }, { parameters: [pathParam, pathQuery] }),
      },
      '/v1/sandboxes/{sandbox_id}/filesystem/directories': {
        get: op('List a directory', { '200': { description: 'entries' } }, {
          parameters: [pathParam, { name: 'path', in: 'query', schema: { type: 'string', default: '.' } }, { name: 'include_hidden', in: 'query', schema: { type: 'boolean' } }],
        }),
      },
      '/v1/sandboxes/{sandbox_id}/filesystem/upload': {
        post: op(`Upload a file (multipart: file, path), streamed; at most ${config.maxUploadBytes} bytes`, { '200': { description: 'uploaded' } }, {
          requestBody: { content: { 'multipart/form-data': { schema: { type: 'object', required: ['file', 'path'], properties: { file: { type: 'string', format: 'binary' }, path: { type: 'string' } } } } } },
        }),
      },
      '/v1/sandboxes/{sandbox_id}/filesystem/download': {
        get: op('Download a file as raw bytes (streamed)', { '200': { description: 'the bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } }, {
          parameters: [pathParam, pathQuery],
        }),
      },
      '/v1/profiles': { get: { summary: 'Sandbox profiles', responses: { '200': { description: 'profiles' } } } },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, request_id: { type: 'string' }, details: { type: 'object' } } } } },
        CreateSandbox: { type: 'object', properties: { profile: { type: 'string', default: 'python-default' }, ttl: { type: ['number', 'null'] }, idle_timeout: { type: 'number' }, name: { type: 'string' }, metadata: { type: 'object' } } },
        Sandbox: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            status: { type: 'string', enum: ['idle', 'starting', 'ready'] },
            profile: { type: 'string' },
            cargo_id: { type: 'string' },
            capabilities: { type: 'array', items: { type: 'string' } },
            created_at: { type: 'string', format: 'date-time' },
            expires_at: { type: ['string', 'null'] },
            idle_expires_at: { type: ['string', 'null'] },
            current_session_id: { type: ['string', 'null'] },
          },
        },
        PythonExecResult: {
          type: 'object',
          properties: {
            success: { type: 'boolean' },
            output: { type: 'string' },
            error: { type: ['string', 'null'] },
            data: { type: 'object' },
            results: { type: 'array' },
            execution_count: { type: ['integer', 'null'] },
            duration_ms: { type: 'integer' },
            session_id: { type: 'string' },
          },
        },
        ShellExecResult: {
          type: 'object',
          properties: { success: { type: 'boolean' }, output: { type: 'string' }, error: { type: ['string', 'null'] }, exit_code: { type: ['integer', 'null'] }, stdout: { type: 'string' }, stderr: { type: 'string' } },
        },
      },
    },
  };
}
