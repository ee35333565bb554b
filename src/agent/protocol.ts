import { z } from 'zod';

/**
 * The wire protocol of the in-container agent (docker/agent/berth_agent.py): JSON lines, requests
 * multiplexed by `id`. Responses and events are validated here, at the boundary.
 */
export const AGENT_PROTOCOL = 1;

export const AgentErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()).default({}),
});

export const AgentMessageSchema = z.union([
  z.object({ id: z.string().nullable(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.string().nullable(), ok: z.literal(false), error: AgentErrorSchema }),
  z.object({
    id: z.string(),
    event: z.literal('output'),
    data: z.object({ stream: z.string(), text: z.string() }),
  }),
]);
export type AgentMessage = z.infer<typeof AgentMessageSchema>;

export const HelloResultSchema = z.object({
  protocol: z.number(),
  kernel_ready: z.boolean(),
  kernel_error: z.string().nullable(),
  python: z.string(),
  pid: z.number(),
  uid: z.number(),
});
export type HelloResult = z.infer<typeof HelloResultSchema>;

export const RichResultSchema = z.object({
  type: z.enum(['execute_result', 'display_data']),
  data: z.record(z.string(), z.string()),
});
export type RichResult = z.infer<typeof RichResultSchema>;

export const ExecResultSchema = z.object({
  success: z.boolean(),
  output: z.string(),
  error: z.string().nullable(),
  error_name: z.string().nullable(),
  error_value: z.string().nullable(),
  results: z.array(RichResultSchema),
  execution_count: z.number().nullable(),
  duration_ms: z.number(),
  truncated: z.boolean(),
  rich_dropped: z.number(),
  timed_out: z.boolean(),
  cancelled: z.boolean(),
  kernel_restarted: z.boolean(),
});
export type AgentExecResult = z.infer<typeof ExecResultSchema>;

export const ShellResultSchema = z.object({
  exit_code: z.number().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  timed_out: z.boolean(),
  truncated: z.boolean(),
  duration_ms: z.number(),
});
export type AgentShellResult = z.infer<typeof ShellResultSchema>;

export const ReadResultSchema = z.object({
  path: z.string(),
  size: z.number(),
  offset: z.number(),
  content_b64: z.string(),
  sha256: z.string(),
  mtime_ms: z.number(),
});

export const WriteResultSchema = z.object({
  path: z.string(),
  size: z.number(),
  written: z.number(),
  mode: z.enum(['w', 'a']),
});

export const FileEntrySchema = z.object({
  name: z.string(),
  path: z.string(),
  type: z.enum(['file', 'directory', 'symlink', 'other']),
  size: z.number(),
  mtime_ms: z.number(),
  sha256: z.string().optional(),
});
export type FileEntry = z.infer<typeof FileEntrySchema>;

export const ListResultSchema = z.object({
  path: z.string(),
  entries: z.array(FileEntrySchema),
  truncated: z.boolean(),
});
export type ListResult = z.infer<typeof ListResultSchema>;

export const DeleteResultSchema = z.object({
  path: z.string(),
  deleted: z.boolean(),
  type: z.enum(['file', 'directory', 'symlink']),
});

export const RenameResultSchema = z.object({ path: z.string(), size: z.number() });
