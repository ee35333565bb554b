import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { VERSION } from './version.js';

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));

/**
 * `berth demo`: starts `berth stdio` as an MCP client would, and walks one sandbox through its
 * life, printing each call and what the agent gets back.
 */
export async function runDemo(): Promise<number> {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'stdio'], env: process.env as Record<string, string>, stderr: 'ignore' });
  const client = new Client({ name: 'berth-demo', version: VERSION });
  await client.connect(transport);
  const { tools } = await client.listTools();
  out(`connected to berth over stdio; tools: ${tools.map((t) => t.name).join(', ')}`);
  let sandboxId: string | undefined;
  const call = async (name: string, args: Record<string, unknown>, note?: string) => {
    out();
    out(`> ${name} ${JSON.stringify(args).slice(0, 160)}${note ? `   # ${note}` : ''}`);
    const started = Date.now();
    const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
    for (const block of result.content) {
      if (block.type === 'text') out(`  ${block.text.length > 600 ? `${block.text.slice(0, 600)}…` : block.text}`);
      else if (block.type === 'image') out(`  [image ${block.mimeType}, ${Buffer.from(block.data, 'base64').length} bytes]`);
      else if (block.type === 'resource') out(`  [resource ${block.resource.uri} ${block.resource.mimeType ?? ''}]`);
    }
    out(`  (${Date.now() - started} ms${result.isError ? ', isError' : ''})`);
    return result;
  };
  try {
    const created = await call('create_sandbox', { name: 'demo' }, 'no container yet');
    sandboxId = (created.structuredContent as { sandbox_id: string }).sandbox_id;
    await call('python_exec', { sandbox_id: sandboxId, code: 'import sys, pandas as pd\nrows = pd.DataFrame({"x": range(5)})\nprint(sys.version.split()[0])\nrows.x.sum()' }, 'first call starts the container');
    await call('python_exec', { sandbox_id: sandboxId, code: 'rows.x.mean()' }, 'variables persist');
    await call('python_exec', {
      sandbox_id: sandboxId,
      code: 'import matplotlib.pyplot as plt\nplt.plot([1, 4, 2, 3]); plt.title("demo"); plt.savefig("chart.png"); plt.show()',
    }, 'a figure comes back as an image');
    await call('download', { sandbox_id: sandboxId, path: 'chart.png' });
    await call('python_exec', { sandbox_id: sandboxId, code: '1/0' }, 'an error is a result, not a crash');
    await call('stop', { sandbox_id: sandboxId }, 'container and kernel go; files stay');
    await call('python_exec', { sandbox_id: sandboxId, code: 'import os\nprint(os.listdir("."))\nprint("rows" in globals())' }, 'fresh kernel, same files');
  } finally {
    if (sandboxId) await call('delete', { sandbox_id: sandboxId }, 'container and volume removed');
    await client.close();
  }
  return 0;
}
