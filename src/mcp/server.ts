import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ReadResourceResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { z } from 'zod';
import type { Config } from '../config.js';
import { BerthError, toBerthError } from '../errors.js';
import type { Logger } from '../log.js';
import { decodeBase64, decodeUtf8, isTextMime, mimeTypeFor } from '../mime.js';
import { sha256Hex, type SandboxManager } from '../sandbox/sandbox-manager.js';
import { VERSION } from '../version.js';
import * as S from './schemas.js';

export const SERVER_NAME = 'berth';
export const SERVER_VERSION = VERSION;

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const INSTRUCTIONS = `Berth gives you Python sandboxes, each a persistent IPython kernel plus a /workspace directory.
Typical flow: create_sandbox -> python_exec (repeatedly; variables persist) / write_file / read_file / upload / download -> stop (frees compute; files stay, variables are lost) -> later calls resume it in a fresh kernel -> delete.
Paths are relative to /workspace. Sandboxes have no network unless the server enables it. Install packages persistently with pip install --target /workspace/.libs (or plain pip install, which lands in /workspace/.local).`;

export function fileUri(sandboxId: string, path: string): string {
  return `berth://sandboxes/${sandboxId}/files/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * Builds the MCP server: every tool and the workspace-file resources, over one manager. The same
 * factory serves stdio and the HTTP transports.
 */
export function createMcpServer(manager: SandboxManager, config: Config, logger: Logger): McpServer {
  const server = new McpServer({ name: SERVER_NAME, version: SERVER_VERSION }, { instructions: INSTRUCTIONS, capabilities: { logging: {} } });

  const readFileCap = Math.floor(config.maxReadBytes / 2);

  const tool = <I extends z.ZodObject, O extends z.ZodObject>(
    name: string,
    spec: { title: string; description: string; input: I; output: O; readOnly?: boolean; destructive?: boolean; idempotent?: boolean },
    run: (args: z.infer<I>, extra: Extra) => Promise<CallToolResult | z.infer<O>>,
  ) => {
    server.registerTool(
      name,
      {
        title: spec.title,
        description: spec.description,
        inputSchema: spec.input,
        outputSchema: spec.output,
        annotations: {
          title: spec.title,
          readOnlyHint: spec.readOnly ?? false,
          destructiveHint: spec.destructive ?? false,
          idempotentHint: spec.idempotent ?? false,
          openWorldHint: false,
        },
      },
      // The SDK's generic handler type cannot follow our generic schemas; the SDK validates args.
      (async (args: z.infer<I>, extra: Extra): Promise<CallToolResult> => {
        const started = Date.now();
        try {
          const result = await run(args, extra);
          logger.debug({ tool: name, ms: Date.now() - started }, 'tool call');
          if (isCallToolResult(result)) return result;
          return structured(result);
        } catch (error) {
          const e = toBerthError(error);
          if (e.code === 'internal') logger.error({ tool: name, err: error }, 'tool failed');
          else logger.debug({ tool: name, code: e.code }, 'tool returned an error');
          return errorResult(e);
        }
      }) as never,
    );
  };

  tool(
    'create_sandbox',
    {
      title: 'Create sandbox',
      description:
        'Create a new Python sandbox and return its sandbox_id. It starts idle: no container runs until the first call that needs one (python_exec, shell_exec or any file tool), which starts it in a few seconds.',
      input: S.CreateSandboxInput,
      output: S.SandboxViewSchema,
    },
    async (args) => manager.create({ name: args.name, ttlS: args.ttl, idleTimeoutS: args.idle_timeout, metadata: args.metadata }),
  );

  tool(
    'list_sandboxes',
    {
      title: 'List sandboxes',
      description: 'List the sandboxes in the registry, newest first, with their status (idle = no container, running = container and kernel up).',
      input: S.ListSandboxesInput,
      output: S.ListSandboxesOutput,
      readOnly: true,
      idempotent: true,
    },
    async (args) => manager.list({ limit: args.limit ?? 100, offset: args.offset ?? 0 }),
  );

  tool(
    'get_sandbox',
    {
      title: 'Get sandbox',
      description: 'Show one sandbox: status, current session, timestamps. Starts nothing.',
      input: S.SandboxIdInput,
      output: S.SandboxViewSchema,
      readOnly: true,
      idempotent: true,
    },
    async (args) => manager.get(args.sandbox_id),
  );

  tool(
    'python_exec',
    {
      title: 'Run Python',
      description:
        'Run Python code in the sandbox\'s persistent IPython kernel (variables, imports and state persist between calls until stop). Returns the cell\'s text output, the error traceback if it raised (success: false; the call itself succeeds), and rich results; figures shown with plt.show() or display() come back as images. The working directory is /workspace. pandas, numpy and matplotlib are installed.',
      input: S.PythonExecInput,
      output: S.PythonExecOutput,
    },
    async (args, extra) => {
      const progress = progressReporter(extra);
      const result = await manager.exec(args.sandbox_id, args.code, { timeoutS: args.timeout, signal: extra.signal, onOutput: progress });
      const images: CallToolResult['content'] = [];
      const results = result.results.map((r) => {
        for (const mime of ['image/png', 'image/jpeg'] as const) {
          const data = r.data[mime];
          if (data) images.push({ type: 'image', data: data.replace(/\s+/g, ''), mimeType: mime });
        }
        return { type: r.type, mime_types: Object.keys(r.data), text: r.data['text/plain'] ?? null };
      });
      const structuredContent = {
        success: result.success,
        output: result.output,
        error: result.error,
        error_name: result.error_name,
        results,
        results_dropped: result.rich_dropped,
        execution_count: result.execution_count,
        duration_ms: result.duration_ms,
        session_id: result.session_id,
        truncated: result.truncated,
        timed_out: result.timed_out,
        kernel_restarted: result.kernel_restarted,
      };
      return { content: [{ type: 'text', text: JSON.stringify(structuredContent) }, ...images], structuredContent };
    },
  );

  tool(
    'shell_exec',
    {
      title: 'Run shell command',
      description:
        'Run a bash command in the sandbox (as the unprivileged sandbox user, in /workspace unless cwd is given). Returns exit_code, stdout and stderr; on timeout the whole process group is killed. Use it for pip, git, ls, unzip and the like.',
      input: S.ShellExecInput,
      output: S.ShellExecOutput,
    },
    async (args, extra) => {
      const result = await manager.shell(args.sandbox_id, args.command, {
        cwd: args.cwd,
        timeoutS: args.timeout,
        signal: extra.signal,
        onOutput: progressReporter(extra),
      });
      return { success: result.exit_code === 0 && !result.timed_out, ...result };
    },
  );

  const writeTool = (name: 'write_file' | 'upload', defaultEncoding: 'utf8' | 'base64') =>
    async (args: z.infer<typeof S.WriteFileInput>, extra: Extra) => {
      const encoding = args.encoding ?? defaultEncoding;
      const bytes = encoding === 'base64' ? decodeBase64(args.content) : Buffer.from(args.content, 'utf8');
      if (!bytes) throw new BerthError('invalid_encoding', `${name}: content is not valid base64; encode the bytes with base64, or pass encoding "utf8" for text`);
      const result = await manager.writeFile(args.sandbox_id, args.path, bytes, { mode: args.mode, signal: extra.signal });
      return { ...result, sha256: sha256Hex(bytes) };
    };

  tool(
    'write_file',
    {
      title: 'Write file',
      description:
        'Write a file in /workspace, creating parent directories. mode "w" overwrites (default), "a" appends. Text by default; pass encoding "base64" for binary content.',
      input: S.WriteFileInput,
      output: S.WriteFileOutput,
      // Overwriting is idempotent, appending (mode "a") is not.
      idempotent: false,
    },
    writeTool('write_file', 'utf8'),
  );

  tool(
    'upload',
    {
      title: 'Upload file',
      description: `Upload a (binary) file into /workspace: content is base64 by default. Creates parent directories. At most ${config.maxWriteBytes} bytes per call; append larger files in pieces with mode "a".`,
      input: S.UploadInput,
      output: S.WriteFileOutput,
      idempotent: false,
    },
    writeTool('upload', 'base64'),
  );

  tool(
    'read_file',
    {
      title: 'Read file',
      description: `Read a file from /workspace as text (encoding "utf8", the default) or base64. Use offset/length to page through large files; one read returns at most ${Math.floor(config.maxReadBytes / 2)} bytes. For images and other binaries prefer download.`,
      input: S.ReadFileInput,
      output: S.ReadFileOutput,
      readOnly: true,
      idempotent: true,
    },
    async (args, extra) => {
      const encoding = args.encoding ?? 'utf8';
      // The content travels twice (structuredContent and its text copy), so one read returns at
      // most half the inline cap; that keeps a result under the 10 MB message limit of stdio.
      const file = await manager.readFile(args.sandbox_id, args.path, {
        offset: args.offset,
        length: args.length,
        maxBytes: readFileCap,
        signal: extra.signal,
      });
      let content: string;
      if (encoding === 'utf8') {
        const text = decodeUtf8(file.bytes);
        if (text === undefined) {
          throw new BerthError(
            'invalid_encoding',
            `${args.path} is not valid UTF-8 text (a binary file?). Read it with encoding "base64", or use download.`,
            { details: { path: args.path, size: file.size } },
          );
        }
        content = text;
      } else {
        content = file.bytes.toString('base64');
      }
      return {
        path: file.path,
        content,
        encoding,
        size: file.size,
        offset: file.offset,
        bytes_read: file.bytes.length,
        eof: file.offset + file.bytes.length >= file.size,
        sha256: file.sha256,
      };
    },
  );

  tool(
    'download',
    {
      title: 'Download file',
      description: `Return a file from /workspace as an embedded resource (binary as a base64 blob with its MIME type, e.g. a PNG chart; small text files as text), with its size and sha256. Files over ${config.maxReadBytes} bytes are refused: read them in ranges with read_file (offset/length) or use the REST download.`,
      input: S.DownloadInput,
      output: S.DownloadOutput,
      readOnly: true,
      idempotent: true,
    },
    async (args, extra) => {
      const file = await manager.readFile(args.sandbox_id, args.path, { signal: extra.signal });
      const mimeType = mimeTypeFor(file.path);
      const uri = fileUri(args.sandbox_id, file.path);
      const structuredContent = { path: file.path, uri, mime_type: mimeType, size: file.size, sha256: file.sha256 };
      const text = isTextMime(mimeType) ? decodeUtf8(file.bytes) : undefined;
      const resource = text !== undefined ? { uri, mimeType, text } : { uri, mimeType, blob: file.bytes.toString('base64') };
      return {
        content: [
          { type: 'text', text: JSON.stringify(structuredContent) },
          { type: 'resource', resource },
        ],
        structuredContent,
      };
    },
  );

  tool(
    'list_files',
    {
      title: 'List files',
      description: 'List a directory of /workspace (default: the root), optionally recursively, with type, size and modification time.',
      input: S.ListFilesInput,
      output: S.ListFilesOutput,
      readOnly: true,
      idempotent: true,
    },
    async (args, extra) => manager.listFiles(args.sandbox_id, args.path ?? '.', { recursive: args.recursive, signal: extra.signal }),
  );

  tool(
    'delete_file',
    {
      title: 'Delete file',
      description: 'Delete a file, a symlink, or (with recursive: true) a directory in /workspace.',
      input: S.DeleteFileInput,
      output: S.DeleteFileOutput,
      destructive: true,
    },
    async (args, extra) => manager.deleteFile(args.sandbox_id, args.path, { recursive: args.recursive, signal: extra.signal }),
  );

  tool(
    'stop',
    {
      title: 'Stop sandbox',
      description:
        'Stop the sandbox to free compute: its container and kernel end (variables are lost), its /workspace files stay. The next call on it starts a fresh container and kernel on the same files. Stopping an idle sandbox does nothing.',
      input: S.SandboxIdInput,
      output: S.SandboxViewSchema,
      destructive: true,
      idempotent: true,
    },
    async (args) => manager.stop(args.sandbox_id),
  );

  tool(
    'delete',
    {
      title: 'Delete sandbox',
      description: 'Delete the sandbox for good: container and workspace volume (all files) are removed. Later calls on this id fail with sandbox_not_found.',
      input: S.SandboxIdInput,
      output: S.DeleteOutput,
      destructive: true,
      idempotent: false,
    },
    async (args) => {
      await manager.delete(args.sandbox_id);
      return { sandbox_id: args.sandbox_id, deleted: true };
    },
  );

  server.registerResource(
    'workspace-file',
    new ResourceTemplate('berth://sandboxes/{sandbox_id}/files/{+path}', {
      // Listing covers sandboxes that are running already; it never starts a container.
      list: async () => {
        const resources = [];
        for (const sandbox of manager.list({ limit: 100 }).sandboxes) {
          if (!manager.isLive(sandbox.sandbox_id)) continue;
          try {
            const listing = await manager.listFiles(sandbox.sandbox_id, '.', { recursive: true, maxEntries: 200 });
            for (const entry of listing.entries) {
              if (entry.type !== 'file') continue;
              resources.push({ uri: fileUri(sandbox.sandbox_id, entry.path), name: `${sandbox.sandbox_id}/${entry.path}`, mimeType: mimeTypeFor(entry.path), size: entry.size });
            }
          } catch (error) {
            logger.debug({ sandbox: sandbox.sandbox_id, err: error }, 'resource listing skipped a sandbox');
          }
        }
        return { resources };
      },
    }),
    { title: 'Workspace file', description: 'A file in a sandbox\'s /workspace.' },
    async (uri, variables): Promise<ReadResourceResult> => {
      const sandboxId = String(variables.sandbox_id);
      const path = decodeURIComponent(String(variables.path));
      const file = await manager.readFile(sandboxId, path);
      const mimeType = mimeTypeFor(file.path);
      const text = isTextMime(mimeType) ? decodeUtf8(file.bytes) : undefined;
      return {
        contents: [text !== undefined ? { uri: uri.href, mimeType, text } : { uri: uri.href, mimeType, blob: file.bytes.toString('base64') }],
      };
    },
  );

  return server;
}

function structured(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
}

function isCallToolResult(value: unknown): value is CallToolResult {
  return typeof value === 'object' && value !== null && Array.isArray((value as { content?: unknown }).content) && 'structuredContent' in value;
}

/** An expected failure as the agent sees it: isError, the code first, what to do next. */
export function errorResult(error: BerthError): CallToolResult {
  return {
    content: [{ type: 'text', text: `Error [${error.code}]: ${error.message}` }],
    isError: true,
    _meta: { 'berth/error': error.toJSON() },
  };
}

/**
 * Sends progress notifications when the client asked for progress (a progress token): at most
 * every 200 ms, each carrying the output so far (its last 2000 characters) as the message and the
 * characters produced so far as `progress`.
 */
function progressReporter(extra: Extra): ((event: { stream: string; text: string }) => void) | undefined {
  const token = extra._meta?.progressToken;
  if (token === undefined) return undefined;
  let produced = 0;
  let tail = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const message = produced > tail.length ? `…${tail}` : tail;
    extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: produced, message } }).catch(() => undefined);
  };
  return (event) => {
    if (!event.text) return;
    produced += event.text.length;
    tail = (tail + event.text).slice(-2000);
    timer ??= setTimeout(flush, 200);
  };
}
