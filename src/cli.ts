#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { loadConfig } from './config.js';
import { BerthError, toBerthError } from './errors.js';
import { startHttpFront } from './http/http-server.js';
import { createMcpServer } from './mcp/server.js';
import { createBerth, DOCKER_CONTEXT_DIR } from './main.js';
import { DockerDriver } from './runtime/docker/docker-driver.js';
import { buildSandboxImage, imageIsCurrent } from './runtime/docker/docker-image.js';
import { runDemo } from './demo.js';
import { runDoctor } from './doctor.js';

const USAGE = `berth — Docker-backed Python sandboxes for AI agents, over MCP

Usage:
  berth [stdio]          serve MCP over stdio (what an MCP client launches)
  berth serve [--host H] [--port P]
                         serve MCP (Streamable HTTP /mcp, SSE /sse) and REST /v1 over HTTP
  berth demo             drive a sandbox through a real MCP client and print what an agent sees
  berth doctor           check Docker, the sandbox image and the registry, with fixes
  berth image build      build the sandbox image (${loadConfigSafe()?.image ?? 'berth-sandbox'})
  berth image status     exit 0 when the image exists and matches docker/, else 1
  berth ls               list sandboxes in the registry
  berth gc               reconcile: remove orphaned containers/volumes, stop idle, delete expired

Settings come from BERTH_* environment variables (see README).`;

function loadConfigSafe() {
  try {
    return loadConfig();
  } catch {
    return undefined;
  }
}

// stdout belongs to MCP in stdio mode: everything human goes to stderr.
const say = (line: string) => process.stderr.write(`${line}\n`);

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { help: { type: 'boolean', short: 'h' }, host: { type: 'string' }, port: { type: 'string' } },
  });
  const [command = 'stdio', sub] = positionals;
  if (values.help || command === 'help') {
    say(USAGE);
    return 0;
  }
  switch (command) {
    case 'stdio':
      return serveStdio();
    case 'serve':
      return serveHttp(typeof values.host === 'string' ? values.host : undefined, typeof values.port === 'string' ? values.port : undefined);
    case 'demo':
      return runDemo();
    case 'doctor':
      return runDoctor();
    case 'image':
      if (sub === 'build') return imageBuild();
      if (sub === 'status') return imageStatus();
      break;
    case 'ls':
      return list();
    case 'gc':
      return gc();
    default:
      break;
  }
  say(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`);
  return 2;
}

async function serveStdio(): Promise<number> {
  const berth = createBerth();
  const server = createMcpServer(berth.manager, berth.config, berth.logger);
  const transport = new StdioServerTransport();
  let closing = false;
  const shutdown = (why: string) => {
    if (closing) return;
    closing = true;
    berth.logger.info({ why }, 'shutting down');
    // Containers keep running so that the next server process (an IDE restart) adopts them with
    // their kernel state; an unattended container ends itself after the idle timeout.
    berth.close();
    void server.close().finally(() => process.exit(0));
  };
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  await server.connect(transport);
  // The SDK closes the transport on a message it cannot take (over 10 MB, say): end the process
  // rather than linger without a connection.
  server.server.onclose = () => shutdown('MCP connection closed');
  server.server.onerror = (error) => berth.logger.warn({ err: error.message }, 'MCP transport error');
  berth.logger.info({ db: berth.config.dbPath, image: berth.config.image }, 'berth MCP server ready on stdio');
  berth.manager.startPolicies();
  berth.manager.reconcile().then(
    (r) => berth.logger.debug(r, 'reconciled'),
    (error: unknown) => berth.logger.warn({ err: toBerthError(error).message }, 'reconcile skipped'),
  );
  return new Promise<number>(() => undefined);
}

async function serveHttp(host: string | undefined, portText: string | undefined): Promise<number> {
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new BerthError('invalid_argument', `--port must be 0-65535, not "${portText}"`);
  const berth = createBerth();
  const front = await startHttpFront(berth, { host, port });
  say(`berth listening on ${front.url}  (MCP: ${front.url}/mcp, SSE: ${front.url}/sse, REST: ${front.url}/v1, OpenAPI: ${front.url}/v1/openapi.json)`);
  if (front.tokenGenerated) say(`bearer token (generated for this run; set BERTH_TOKEN to fix one): ${front.token}`);
  else if (!front.token) say('authentication is off (BERTH_AUTH=none)');
  berth.manager.startPolicies();
  berth.manager.reconcile().catch((error: unknown) => berth.logger.warn({ err: toBerthError(error).message }, 'reconcile skipped'));
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    void front.close().finally(() => {
      berth.close();
      process.exit(0);
    });
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  return new Promise<number>(() => undefined);
}

async function imageBuild(): Promise<number> {
  const config = loadConfig();
  const driver = new DockerDriver();
  await driver.ping();
  await buildSandboxImage(driver.docker, { tag: config.image, contextDir: DOCKER_CONTEXT_DIR, onLog: say });
  return 0;
}

async function imageStatus(): Promise<number> {
  const config = loadConfig();
  const driver = new DockerDriver();
  const current = await imageIsCurrent(driver.docker, config.image, DOCKER_CONTEXT_DIR);
  say(current ? `${config.image} is up to date` : `${config.image} is missing or was built from other sources; run \`berth image build\``);
  return current ? 0 : 1;
}

async function list(): Promise<number> {
  const berth = createBerth();
  try {
    const { sandboxes } = berth.manager.list();
    if (sandboxes.length === 0) say('no sandboxes');
    for (const s of sandboxes) process.stdout.write(`${s.sandbox_id}\t${s.status}\t${s.created_at}\t${s.name ?? ''}\n`);
    return 0;
  } finally {
    berth.close();
  }
}

async function gc(): Promise<number> {
  const berth = createBerth();
  try {
    const reconciled = await berth.manager.reconcile();
    const swept = await berth.manager.sweep();
    say(JSON.stringify({ ...reconciled, stopped: swept.stopped.length, deleted: swept.deleted.length }));
    return 0;
  } finally {
    berth.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    const e = toBerthError(error);
    say(`berth: ${e instanceof BerthError ? `[${e.code}] ` : ''}${e.message}`);
    process.exitCode = 1;
  },
);
