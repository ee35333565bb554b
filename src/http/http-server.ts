import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BerthError } from '../errors.js';
import type { Berth } from '../main.js';
import { createMcpServer, SERVER_VERSION } from '../mcp/server.js';
import { RequestGuard, isLoopback } from './guard.js';
import { jsonBodyLimitBytes, sendError, sendJson } from './http-util.js';
import { McpHttpSessions } from './mcp-http.js';
import { RestApi } from './rest-api.js';

export interface HttpFront {
  server: Server;
  url: string;
  port: number;
  /** The bearer token in force (undefined when auth is off). */
  token: string | undefined;
  /** True when the token was generated (it should be shown to the user once). */
  tokenGenerated: boolean;
  close(): Promise<void>;
}

/**
 * One HTTP server for every network front: MCP Streamable HTTP (/mcp), legacy SSE (/sse,
 * /messages), REST v1 (/v1) and health (/healthz, /readyz). Safe by default: loopback bind, bearer
 * token, Host/Origin validation, bodies capped by the configured sizes.
 */
export async function startHttpFront(berth: Berth, options: { host?: string; port?: number } = {}): Promise<HttpFront> {
  const { config, logger, manager, driver } = berth;
  const host = options.host ?? config.host;
  const port = options.port ?? config.port;
  if (!isLoopback(host) && (config.authDisabled || !config.token)) {
    throw new BerthError(
      'invalid_argument',
      `refusing to listen on ${host} without a token: set BERTH_TOKEN (16+ characters) to serve beyond loopback, or bind 127.0.0.1`,
    );
  }
  let token = config.authDisabled ? undefined : config.token;
  const tokenGenerated = !config.authDisabled && token === undefined;
  if (tokenGenerated) token = randomBytes(24).toString('base64url');

  let boundPort = port;
  const guard = new RequestGuard({ bindHost: host, port: () => boundPort, token, allowedHosts: config.allowedHosts, allowedOrigins: config.allowedOrigins });
  const sessions = new McpHttpSessions(() => createMcpServer(manager, config, logger), jsonBodyLimitBytes(config), logger);
  const rest = new RestApi(manager, config);
  const expiry = setInterval(() => {
    sessions.expireIdle().catch(() => undefined);
  }, 60_000);
  expiry.unref();

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://berth.invalid');
    const path = url.pathname;
    if (path === '/healthz' || path === '/health') {
      sendJson(res, 200, { status: 'ok', version: SERVER_VERSION });
      return;
    }
    guard.checkOrigin(req);
    // Browsers on an allowed origin (BERTH_ALLOWED_ORIGINS) get CORS headers and preflights.
    const origin = req.headers.origin;
    if (origin) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      res.setHeader('access-control-expose-headers', 'Mcp-Session-Id, X-Request-Id, Content-Disposition');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
        'access-control-allow-headers': 'Authorization, Content-Type, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-Id, Idempotency-Key, X-Request-Id',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    if (path === '/readyz') {
      const checks: Record<string, string> = {};
      let ready = true;
      try {
        await driver.ping(AbortSignal.timeout(5000));
        checks.docker = 'ok';
        checks.image = (await driver.imageExists(config.image)) ? 'ok' : `missing ${config.image}: run berth image build`;
        ready = checks.image === 'ok';
      } catch (error) {
        ready = false;
        checks.docker = (error as Error).message;
      }
      sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', checks });
      return;
    }
    const guarded = path === '/mcp' || path === '/sse' || path === '/messages' || path === '/v1' || path.startsWith('/v1/');
    if (!guarded) throw new BerthError('not_found', `no such endpoint ${path}; see /v1/openapi.json`);
    guard.checkAuth(req);
    if (path === '/mcp') return sessions.handleStreamable(req, res);
    if (path === '/sse') return sessions.openSse(req, res);
    if (path === '/messages') return sessions.postSseMessage(req, res, url);
    if (await rest.handle({ req, res, url, requestId })) return;
    throw new BerthError('not_found', `no such endpoint ${req.method ?? ''} ${path}; see /v1/openapi.json`);
  };

  const server = createServer((req, res) => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', requestId);
    const started = Date.now();
    handle(req, res, requestId).then(
      () => logger.debug({ method: req.method, path: req.url?.split('?')[0], status: res.statusCode, ms: Date.now() - started }, 'http'),
      (error: unknown) => {
        if (error instanceof BerthError && error.status < 500) logger.debug({ code: error.code, path: req.url?.split('?')[0] }, 'http request refused');
        else logger.warn({ err: error, path: req.url?.split('?')[0] }, 'http request failed');
        // A body we stopped reading cannot be skipped on a keep-alive connection: close it.
        if (!req.complete && !res.headersSent) res.setHeader('connection', 'close');
        if (!res.headersSent) sendError(res, error, requestId);
        else res.end();
        // Whatever the client still sends is of no use now.
        req.resume();
      },
    );
  });
  // Executions may legitimately run for as long as the configured maximum timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new BerthError('invalid_argument', `${host}:${port} is already in use; choose another port with --port or BERTH_PORT`));
      else if (error.code === 'EADDRNOTAVAIL') reject(new BerthError('invalid_argument', `cannot listen on ${host}: no such address on this machine (--host, BERTH_HOST)`));
      else reject(error);
    });
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  boundPort = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    url: `http://${shownHost}:${boundPort}`,
    port: boundPort,
    token,
    tokenGenerated,
    close: async () => {
      clearInterval(expiry);
      await sessions.closeAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
