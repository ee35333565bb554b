// Benchmarks Berth's hot paths against baselines measured in the same run, and prints ratios.
//   node bench/exec-latency.mjs [iterations]
// Baselines: `docker exec <container> python3 -c ...` per call (what a naive sandbox does), and
// the agent's own kernel-side duration (what the kernel costs). Needs Docker and the image.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const N = Number(process.argv[2] ?? 30);
const home = mkdtempSync(join(tmpdir(), 'berth-bench-'));
const env = { ...process.env, BERTH_HOME: home, BERTH_LOG_LEVEL: 'warn' };

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, p50: at(0.5), p90: at(0.9), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

async function time(fn) {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const client = new Client({ name: 'berth-bench', version: '0' });
await client.connect(new StdioClientTransport({ command: process.execPath, args: ['dist/cli.js', 'stdio'], env, stderr: 'inherit' }));
const call = async (name, args) => {
  const r = await client.callTool({ name, arguments: args });
  if (r.isError) throw new Error(`${name}: ${r.content[0]?.text}`);
  return r.structuredContent;
};

const rows = [];
let id;
try {
  // Cold start: create + first exec (container start, kernel start, connect).
  const cold = [];
  for (let i = 0; i < 3; i++) {
    const sid = (await call('create_sandbox', {})).sandbox_id;
    cold.push(await time(() => call('python_exec', { sandbox_id: sid, code: 'print(42)' })));
    await call('delete', { sandbox_id: sid });
  }
  id = (await call('create_sandbox', {})).sandbox_id;
  await call('python_exec', { sandbox_id: id, code: 'x = 0' });
  const container = execFileSync('docker', ['ps', '-q', '--filter', `label=berth.sandbox=${id}`], { encoding: 'utf8' }).trim();

  const dockerExec = [];
  for (let i = 0; i < Math.min(N, 20); i++) {
    dockerExec.push(await time(async () => execFileSync('docker', ['exec', container, 'python3', '-c', 'print(42)'])));
  }
  const warm = [];
  const kernelSide = [];
  for (let i = 0; i < N; i++) {
    let r;
    warm.push(await time(async () => (r = await call('python_exec', { sandbox_id: id, code: 'x += 1; print(x)' }))));
    kernelSide.push(r.duration_ms);
  }
  const files = [];
  for (let i = 0; i < N; i++) files.push(await time(() => call('write_file', { sandbox_id: id, path: 'bench.txt', content: 'hello' })));
  const resume = [];
  for (let i = 0; i < 3; i++) {
    await call('stop', { sandbox_id: id });
    resume.push(await time(() => call('python_exec', { sandbox_id: id, code: 'print(1)' })));
  }

  const base = stats(dockerExec).p50;
  rows.push(['docker exec python3 -c (baseline, per call)', stats(dockerExec)]);
  rows.push(['kernel-side execute (agent-reported)', stats(kernelSide)]);
  rows.push(['python_exec warm, MCP stdio round trip', stats(warm)]);
  rows.push(['write_file warm, MCP stdio round trip', stats(files)]);
  rows.push(['cold start: create + first python_exec', stats(cold)]);
  rows.push(['resume after stop: first python_exec', stats(resume)]);
  const pad = (s, n) => String(s).padEnd(n);
  console.log(`\n${pad('operation', 44)} ${pad('n', 4)} ${pad('p50 ms', 9)} ${pad('p90 ms', 9)} ${pad('p50 / docker exec', 18)}`);
  for (const [name, s] of rows) {
    console.log(`${pad(name, 44)} ${pad(s.n, 4)} ${pad(s.p50.toFixed(1), 9)} ${pad(s.p90.toFixed(1), 9)} ${pad((s.p50 / base).toFixed(3), 18)}`);
  }
} finally {
  if (id) await call('delete', { sandbox_id: id }).catch(() => undefined);
  await client.close();
  rmSync(home, { recursive: true, force: true });
}
