import { z } from 'zod';

/** Input and output schemas of the MCP tools. Argument names are snake_case and shared by all tools. */

const sandboxId = z.string().min(1).max(100).describe('Id of the sandbox, as returned by create_sandbox (for example "sbx_k3j9x2m4p7qa").');
const path = z.string().min(1).max(4096).describe('Path relative to /workspace (for example "data/sales.csv"), or absolute under /workspace/.');
const timeout = z
  .number()
  .positive()
  .max(86_400)
  .optional()
  .describe('Deadline in seconds (default 120, capped by the server). On expiry the run is interrupted; variables defined before survive.');
const encoding = z.enum(['utf8', 'base64']).optional();

export const SandboxViewSchema = z.object({
  sandbox_id: z.string(),
  name: z.string().nullable(),
  status: z.enum(['idle', 'starting', 'running', 'stopping', 'deleting']),
  image: z.string(),
  current_session_id: z.string().nullable(),
  created_at: z.string(),
  last_active_at: z.string(),
  expires_at: z.string().nullable(),
  idle_timeout_s: z.number(),
  metadata: z.record(z.string(), z.string()),
});

export const CreateSandboxInput = z.object({
  name: z.string().max(200).optional().describe('A label for your own reference.'),
  ttl: z.number().min(0).max(31_536_000).optional().describe('Seconds until the sandbox is deleted automatically; 0 or absent: never (unless the server sets a default).'),
  idle_timeout: z.number().min(0).max(31_536_000).optional().describe('Seconds without calls after which the sandbox is stopped (files kept); 0: never.'),
  metadata: z.record(z.string().max(100), z.string().max(1000)).optional().describe('Free-form string tags.'),
});

export const ListSandboxesInput = z.object({
  limit: z.number().int().min(1).max(1000).optional().describe('Most sandboxes to return (default 100).'),
  offset: z.number().int().min(0).optional().describe('How many to skip (default 0).'),
});
export const ListSandboxesOutput = z.object({ sandboxes: z.array(SandboxViewSchema), total: z.number() });

export const SandboxIdInput = z.object({ sandbox_id: sandboxId });

export const PythonExecInput = z.object({
  sandbox_id: sandboxId,
  code: z.string().max(1_000_000).describe('Python (IPython) source to run in the sandbox kernel. Variables persist across calls until stop.'),
  timeout,
});

export const RichResultOutput = z.object({
  type: z.enum(['execute_result', 'display_data']),
  mime_types: z.array(z.string()),
  text: z.string().nullable().describe('The text/plain form, if any.'),
});

export const PythonExecOutput = z.object({
  success: z.boolean().describe('False when the code raised, timed out or the kernel died.'),
  output: z.string().describe('What a notebook cell shows as text: stdout, stderr and text/plain results, in order.'),
  error: z.string().nullable().describe('The traceback (ANSI codes stripped), or null.'),
  error_name: z.string().nullable(),
  results: z.array(RichResultOutput).describe('Rich results; images are also returned as image content.'),
  results_dropped: z.number().describe('Rich outputs left out because they went over the per-call cap (BERTH_MAX_RICH_BYTES).'),
  execution_count: z.number().nullable(),
  duration_ms: z.number(),
  session_id: z.string().describe('The session (container + kernel) that ran the code; it changes after stop.'),
  truncated: z.boolean().describe('True when output was cut to the server limit (head and tail kept).'),
  timed_out: z.boolean(),
  kernel_restarted: z.boolean().describe('True when the kernel had to be restarted: all variables are lost.'),
});

export const ShellExecInput = z.object({
  sandbox_id: sandboxId,
  command: z.string().min(1).max(100_000).describe('A bash command line, run as the sandbox user.'),
  cwd: path.optional().describe('Working directory, relative to /workspace (default: /workspace).'),
  timeout,
});

export const ShellExecOutput = z.object({
  success: z.boolean().describe('True when the command exited with status 0.'),
  exit_code: z.number().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  timed_out: z.boolean(),
  truncated: z.boolean(),
  duration_ms: z.number(),
  session_id: z.string(),
});

export const WriteFileInput = z.object({
  sandbox_id: sandboxId,
  path,
  content: z.string().describe('The file content: text for encoding "utf8" (default), base64 for "base64".'),
  encoding: encoding.describe('"utf8" (default) or "base64" for binary content.'),
  mode: z.enum(['w', 'a']).optional().describe('"w" overwrites (default), "a" appends. Parent directories are created.'),
});

export const UploadInput = z.object({
  sandbox_id: sandboxId,
  path,
  content: z.string().describe('The file content, base64-encoded (binary-safe).'),
  encoding: encoding.describe('"base64" (default) or "utf8".'),
  mode: z.enum(['w', 'a']).optional().describe('"w" overwrites (default), "a" appends.'),
});

export const WriteFileOutput = z.object({
  path: z.string(),
  size: z.number().describe('Size of the file after the write, in bytes.'),
  written: z.number().describe('Bytes written by this call.'),
  mode: z.enum(['w', 'a']),
  sha256: z.string().describe('sha256 of the bytes written by this call.'),
});

export const ReadFileInput = z.object({
  sandbox_id: sandboxId,
  path,
  encoding: encoding.describe('"utf8" (default; fails on non-UTF-8 content) or "base64".'),
  offset: z.number().int().min(0).optional().describe('First byte to read (default 0).'),
  length: z.number().int().min(0).optional().describe('Most bytes to read (default: to the end, within the server cap).'),
});

export const ReadFileOutput = z.object({
  path: z.string(),
  content: z.string(),
  encoding: z.enum(['utf8', 'base64']),
  size: z.number().describe('Total size of the file in bytes.'),
  offset: z.number(),
  bytes_read: z.number(),
  eof: z.boolean().describe('True when the read reached the end of the file.'),
  sha256: z.string().describe('sha256 of the bytes returned.'),
});

export const DownloadInput = z.object({ sandbox_id: sandboxId, path });
export const DownloadOutput = z.object({
  path: z.string(),
  uri: z.string(),
  mime_type: z.string(),
  size: z.number(),
  sha256: z.string(),
});

export const ListFilesInput = z.object({
  sandbox_id: sandboxId,
  path: path.optional().describe('Directory relative to /workspace (default: the workspace root).'),
  recursive: z.boolean().optional().describe('List subdirectories too (default false; at most 1000 entries).'),
});
export const ListFilesOutput = z.object({
  path: z.string(),
  entries: z.array(
    z.object({
      name: z.string(),
      path: z.string(),
      type: z.enum(['file', 'directory', 'symlink', 'other']),
      size: z.number(),
      mtime_ms: z.number(),
    }),
  ),
  truncated: z.boolean(),
});

export const DeleteFileInput = z.object({
  sandbox_id: sandboxId,
  path,
  recursive: z.boolean().optional().describe('Required to delete a non-empty directory.'),
});
export const DeleteFileOutput = z.object({ path: z.string(), deleted: z.boolean(), type: z.enum(['file', 'directory', 'symlink']) });

export const DeleteOutput = z.object({ sandbox_id: z.string(), deleted: z.boolean() });
