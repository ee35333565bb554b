import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { McpHttpSessions } from '../../src/http/mcp-http.js';
import { silentLogger } from '../../src/log.js';
import { createMcpServer } from '../../src/mcp/server.js';
import { FakeDriver } from '../../src/runtime/fake-driver.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { SqliteSandboxStore } from '../../src/store/sqlite-sandbox-store.js';

describe('Streamable HTTP sessions', () => {
  let http: Server;
  let sessions: McpHttpSessions;
  let url: URL;

  beforeEach(async () => {
    const config = loadConfig({}, {});
    const manager = new SandboxManager({ store: new SqliteSandboxStore(':memory:'), driver: new FakeDriver(), config, logger: silentLogger() });
    sessions = new McpHttpSessions(() => createMcpServer(manager, config, silentLogger()), 1024 * 1024, silentLogger());
    http = createServer((req, res) => {
      sessions.handleStreamable(req, res).catch(() => res.writeHead(500).end());
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
  });
  afterEach(async () => {
    await sessions.closeAll();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });

  it('serves a client, and closes sessions that stayed idle too long', async () => {
    const client = new Client({ name: 't', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(url));
    expect((await client.listTools()).tools.length).toBe(13);
    expect(sessions.sessionCount).toBe(1);
    // A session seen just now is kept...
    expect(await sessions.expireIdle(60_000)).toBe(0);
    expect(sessions.sessionCount).toBe(1);
    // ...one idle beyond the limit is closed, and its id stops working.
    expect(await sessions.expireIdle(0, Date.now() + 1)).toBe(1);
    expect(sessions.sessionCount).toBe(0);
    await expect(client.listTools()).rejects.toThrow();
    await client.close().catch(() => undefined);
  });
});
