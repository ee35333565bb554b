import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { SqliteSandboxStore } from '../../src/store/sqlite-sandbox-store.js';

/** The MCP transports every scenario runs over. */
export type McpTransportKind = 'stdio' | 'http' | 'sse';
export const MCP_TRANSPORTS: McpTransportKind[] = ['stdio', 'http', 'sse'];
export const TEST_TOKEN = 'e2e-token-0123456789abcdef';

export const REGISTRIES_DIR = join(tmpdir(), 'berth-e2e-registries');

/** A tool result as a test sees it. */
export interface ToolCall<T = Record<string, unknown>> {
  raw: CallToolResult;
  isError: boolean;
  /** structuredContent (undefined for errors). */
  data: T;
  /** For errors: the stable code from `_meta['berth/error']`. */
  code?: string;
  text: string;
}

/**
 * One Berth server under test: its own registry (a temp BERTH_HOME) on the real Docker engine,
 * driven through a real MCP client transport. `cleanup()` removes every Docker object of that
 * registry, whatever the test left behind.
 */
export class BerthUnderTest {
  readonly home: string;
  readonly registryId: string;
  client!: Client;
  baseUrl = '';
  private stdioTransport: StdioClientTransport | undefined;
  private httpProcess: ChildProcess | undefined;

  constructor(
    readonly env: Record<string, string> = {},
    readonly kind: McpTransportKind = 'stdio',
  ) {
    this.home = mkdtempSync(join(tmpdir(), 'berth-e2e-'));
    // Create the registry first so the sweep knows its id even if the server never starts.
    const store = new SqliteSandboxStore(join(this.home, 'berth.db'));
    this.registryId = store.registryId;
    store.close();
    mkdirSync(REGISTRIES_DIR, { recursive: true });
    writeFileSync(join(REGISTRIES_DIR, this.registryId), this.home);
  }

  get serverEnv(): Record<string, string> {
    return { ...(process.env as Record<string, string>), BERTH_HOME: this.home, BERTH_LOG_LEVEL: 'warn', ...this.env };
  }

  async start(): Promise<Client> {
    let transport: Transport;
    if (this.kind === 'stdio') {
      const stdio = new StdioClientTransport({ command: process.execPath, args: ['dist/cli.js', 'stdio'], env: this.serverEnv, stderr: 'pipe' });
      this.stdioTransport = stdio;
      transport = stdio;
    } else {
      const base = await this.startHttpServer();
      const headers = { Authorization: `Bearer ${TEST_TOKEN}` };
      transport =
        this.kind === 'http'
          ? new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } })
          : new SSEClientTransport(new URL(`${base}/sse`), {
              requestInit: { headers },
              eventSourceInit: { fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) },
            });
    }
    this.client = new Client({ name: 'berth-e2e', version: '0.0.0' });
    await this.client.connect(transport);
    return this.client;
  }

  /** Starts `berth serve` on a free port and returns its base URL. */
  async startHttpServer(extraEnv: Record<string, string> = {}): Promise<string> {
    const child = spawn(process.execPath, ['dist/cli.js', 'serve', '--port', '0'], {
      env: { ...this.serverEnv, BERTH_TOKEN: TEST_TOKEN, ...extraEnv },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.httpProcess = child;
    const base = await new Promise<string>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`berth serve did not start: ${seen}`)), 20_000);
      child.stderr.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(seen);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      child.once('exit', (code) => reject(new Error(`berth serve exited with ${code}: ${seen}`)));
    });
    this.baseUrl = base;
    return base;
  }

  /** The server's process id (to kill it hard). */
  get pid(): number | null {
    return this.kind === 'stdio' ? (this.stdioTransport?.pid ?? null) : (this.httpProcess?.pid ?? null);
  }

  async stopServer(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    const child = this.httpProcess;
    this.httpProcess = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }

  async call<T = Record<string, unknown>>(name: string, args: Record<string, unknown> = {}, options: { timeoutMs?: number } = {}): Promise<ToolCall<T>> {
    const raw = (await this.client.callTool({ name, arguments: args }, undefined, { timeout: options.timeoutMs ?? 120_000 })) as CallToolResult;
    const text = raw.content.filter((c) => c.type === 'text').map((c) => (c as { text: string }).text).join('\n');
    const meta = raw._meta?.['berth/error'] as { code?: string } | undefined;
    return { raw, isError: raw.isError === true, data: raw.structuredContent as T, code: meta?.code, text };
  }

  /** Calls a tool and fails the test with the server's message when it returns an error. */
  async ok<T = Record<string, unknown>>(name: string, args: Record<string, unknown> = {}, options: { timeoutMs?: number } = {}): Promise<T> {
    const result = await this.call<T>(name, args, options);
    if (result.isError) throw new Error(`${name} failed: ${result.text}`);
    return result.data;
  }

  async cleanup(): Promise<void> {
    await this.stopServer();
    sweepRegistry(this.registryId);
    rmSync(this.home, { recursive: true, force: true });
    rmSync(join(REGISTRIES_DIR, this.registryId), { force: true });
  }
}

/** Removes every container and volume labelled with this registry id. */
export function sweepRegistry(registryId: string): void {
  const filter = `label=berth.registry=${registryId}`;
  const containers = docker(['ps', '-aq', '--filter', filter]);
  if (containers) docker(['rm', '-f', ...containers.split('\n')]);
  const volumes = docker(['volume', 'ls', '-q', '--filter', filter]);
  if (volumes) docker(['volume', 'rm', '-f', ...volumes.split('\n')]);
}

export function sweepAllTestRegistries(): void {
  let ids: string[] = [];
  try {
    ids = readdirSync(REGISTRIES_DIR);
  } catch {
    return;
  }
  for (const id of ids) {
    sweepRegistry(id);
    rmSync(join(REGISTRIES_DIR, id), { force: true });
  }
}

export function docker(args: string[]): string {
  try {
    return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (error) {
    return ((error as { stdout?: string }).stdout ?? '').trim();
  }
}

/** Containers of one sandbox, by Berth's label (all states). */
export function containersOf(sandboxId: string): string[] {
  const out = docker(['ps', '-aq', '--filter', `label=berth.sandbox=${sandboxId}`]);
  return out ? out.split('\n') : [];
}

export function volumeExists(name: string): boolean {
  return docker(['volume', 'ls', '-q', '--filter', `name=^${name}$`]) === name;
}
