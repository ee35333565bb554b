import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { BerthError } from '../errors.js';
import type { Logger } from '../log.js';
import { readJsonBody, sendJson } from './http-util.js';

interface Session {
  server: McpServer;
  close(): Promise<void>;
  /** Last request on this session, epoch ms. */
  lastSeenMs: number;
}

/** Streamable HTTP sessions that saw no request for this long are closed (clients may vanish without DELETE). */
export const SESSION_IDLE_MS = 60 * 60 * 1000;

/**
 * MCP over HTTP: Streamable HTTP at /mcp (stateful sessions) and the legacy HTTP+SSE transport at
 * /sse + /messages, side by side. Every session gets its own McpServer over the shared manager.
 */
export class McpHttpSessions {
  private readonly streamable = new Map<string, { transport: StreamableHTTPServerTransport; session: Session }>();
  private readonly sse = new Map<string, { transport: SSEServerTransport; session: Session }>();

  constructor(
    private readonly newServer: () => McpServer,
    private readonly bodyLimitBytes: number,
    private readonly logger: Logger,
  ) {}

  get sessionCount(): number {
    return this.streamable.size + this.sse.size;
  }

  async handleStreamable(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const sessionId = header(req, 'mcp-session-id');
    if (req.method === 'POST') {
      const body = await readJsonBody(req, this.bodyLimitBytes);
      const existing = sessionId ? this.streamable.get(sessionId) : undefined;
      if (existing) {
        existing.session.lastSeenMs = Date.now();
        return existing.transport.handleRequest(req, res, body);
      }
      if (sessionId) return jsonRpcError(res, 404, 'unknown or expired MCP session; initialize a new one');
      if (!isInitializeRequest(body) && !(Array.isArray(body) && body.some((m) => isInitializeRequest(m)))) {
        return jsonRpcError(res, 400, 'no MCP session: send an initialize request first (without Mcp-Session-Id)');
      }
      const server = this.newServer();
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          this.streamable.set(id, { transport, session: { server, close: () => server.close(), lastSeenMs: Date.now() } });
          this.logger.debug({ session: id }, 'streamable HTTP session opened');
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) this.streamable.delete(transport.sessionId);
      };
      await server.connect(transport);
      return transport.handleRequest(req, res, body);
    }
    if (req.method === 'GET' || req.method === 'DELETE') {
      const existing = sessionId ? this.streamable.get(sessionId) : undefined;
      if (!existing) return jsonRpcError(res, sessionId ? 404 : 400, sessionId ? 'unknown or expired MCP session' : 'missing Mcp-Session-Id header');
      existing.session.lastSeenMs = Date.now();
      return existing.transport.handleRequest(req, res);
    }
    res.writeHead(405, { allow: 'GET, POST, DELETE' }).end();
  }

  async openSse(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    const transport = new SSEServerTransport('/messages', res);
    const server = this.newServer();
    this.sse.set(transport.sessionId, { transport, session: { server, close: () => server.close(), lastSeenMs: Date.now() } });
    transport.onclose = () => {
      this.sse.delete(transport.sessionId);
    };
    res.on('close', () => {
      this.sse.delete(transport.sessionId);
      void server.close().catch(() => undefined);
    });
    await server.connect(transport);
    this.logger.debug({ session: transport.sessionId }, 'SSE session opened');
  }

  async postSseMessage(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const sessionId = url.searchParams.get('sessionId') ?? '';
    const entry = this.sse.get(sessionId);
    if (!entry) throw new BerthError('not_found', 'unknown SSE session: open GET /sse first and post to the endpoint it announces');
    const body = await readJsonBody(req, this.bodyLimitBytes);
    await entry.transport.handlePostMessage(req, res, body);
  }

  /** Closes Streamable HTTP sessions idle for longer than `idleMs`; returns how many. */
  async expireIdle(idleMs = SESSION_IDLE_MS, now = Date.now()): Promise<number> {
    const stale = [...this.streamable.entries()].filter(([, e]) => now - e.session.lastSeenMs > idleMs);
    for (const [id, entry] of stale) {
      this.streamable.delete(id);
      await entry.transport.close().catch(() => undefined);
      await entry.session.close().catch(() => undefined);
    }
    return stale.length;
  }

  async closeAll(): Promise<void> {
    const all = [...this.streamable.values(), ...this.sse.values()];
    this.streamable.clear();
    this.sse.clear();
    await Promise.all(all.map((e) => e.session.close().catch(() => undefined)));
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function jsonRpcError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code: -32000, message }, id: null });
}
