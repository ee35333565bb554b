import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { BerthUnderTest } from '../harness.js';
import { containersOf, volumeExists } from '../harness.js';

/**
 * The four scenarios of shared/seed/e2e-workflow-scenarios.md, step by step, written once against
 * a front-neutral `call`/`ok` interface so that every transport runs the same bodies. Each row of a
 * scenario's 测试要点 table is an assertion, marked with its number.
 */

interface Exec {
  success: boolean;
  output: string;
  error: string | null;
  error_name: string | null;
  session_id: string;
  results: Array<{ type: string; mime_types: string[]; text: string | null }>;
}

interface Sandbox {
  sandbox_id: string;
  status: string;
  current_session_id: string | null;
}

const SALES_CSV = 'month,region,revenue\n2026-01,north,1200.5\n2026-02,north,980.25\n2026-03,south,1500\n2026-04,south,1325.75\n2026-05,east,1100\n2026-06,east,1420.5\n';

async function sandboxSha(b: BerthUnderTest, id: string, path: string): Promise<string> {
  const r = await b.ok<Exec>('python_exec', { sandbox_id: id, code: `import hashlib; print(hashlib.sha256(open(${JSON.stringify(path)}, 'rb').read()).hexdigest())` });
  expect(r.success).toBe(true);
  return r.output.trim();
}

function downloadedBytes(result: Awaited<ReturnType<BerthUnderTest['call']>>): { bytes: Buffer; mimeType: string; uri: string } {
  const block = result.raw.content.find((c) => c.type === 'resource');
  if (!block || block.type !== 'resource') throw new Error(`download returned no resource: ${result.text}`);
  const resource = block.resource as { uri: string; mimeType?: string; blob?: string; text?: string };
  const bytes = resource.blob !== undefined ? Buffer.from(resource.blob, 'base64') : Buffer.from(resource.text ?? '', 'utf8');
  return { bytes, mimeType: resource.mimeType ?? '', uri: resource.uri };
}

/** Scenario 1: interactive data analysis, stop/resume. */
export async function scenario1(b: BerthUnderTest): Promise<void> {
  const created = await b.ok<Sandbox>('create_sandbox', {});
  const id = created.sandbox_id;
  expect(created.status).toBe('idle');
  try {
    await b.ok('upload', { sandbox_id: id, path: 'sales.csv', content: Buffer.from(SALES_CSV).toString('base64') });

    const round1 = await b.ok<Exec>('python_exec', { sandbox_id: id, code: "import pandas as pd; df = pd.read_csv('sales.csv'); df.head()" });
    expect(round1.success).toBe(true);
    expect(round1.output).toContain('north');
    expect(round1.output).toContain('1200.50');
    expect(round1.output).not.toContain('1420.5'); // head() shows five of the six rows
    const firstSession = round1.session_id;

    // 要点 1: variables persist within a session.
    const round2 = await b.ok<Exec>('python_exec', { sandbox_id: id, code: "df['revenue'].sum()" });
    expect(round2.success).toBe(true);
    expect(Number(round2.output.trim())).toBeCloseTo(7527, 6);
    expect(round2.session_id).toBe(firstSession);

    const round3 = await b.ok<Exec>('python_exec', { sandbox_id: id, code: "import matplotlib.pyplot as plt; df['revenue'].plot(); plt.savefig('chart.png')" });
    expect(round3.success).toBe(true);

    // 要点 4: the binary download is byte-identical.
    const shaInSandbox = await sandboxSha(b, id, 'chart.png');
    const download1 = await b.call('download', { sandbox_id: id, path: 'chart.png' });
    expect(download1.isError).toBe(false);
    const file1 = downloadedBytes(download1);
    expect(file1.mimeType).toBe('image/png');
    expect(file1.bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(createHash('sha256').update(file1.bytes).digest('hex')).toBe(shaInSandbox);
    expect((download1.data as { sha256: string }).sha256).toBe(shaInSandbox);

    const stopped = await b.ok<Sandbox>('stop', { sandbox_id: id });
    expect(stopped.status).toBe('idle');
    expect(stopped.current_session_id).toBeNull();
    expect(containersOf(id)).toEqual([]);

    // 要点 2: after stop, a new container and kernel: variables are gone.
    const resumed = await b.ok<Exec>('python_exec', { sandbox_id: id, code: 'df.head()' });
    expect(resumed.success).toBe(false);
    expect(resumed.error).toContain("NameError: name 'df' is not defined");
    expect(resumed.session_id).not.toBe(firstSession);

    // 要点 3: files persist across stop/resume.
    const reload = await b.ok<Exec>('python_exec', { sandbox_id: id, code: "import pandas as pd; df = pd.read_csv('sales.csv'); df.head()" });
    expect(reload.success).toBe(true);
    expect(reload.output).toContain('south');
    const download2 = await b.call('download', { sandbox_id: id, path: 'chart.png' });
    expect(createHash('sha256').update(downloadedBytes(download2).bytes).digest('hex')).toBe(shaInSandbox);
  } finally {
    const deleted = await b.call('delete', { sandbox_id: id });
    expect(deleted.isError).toBe(false);
  }
  expect((await b.call('get_sandbox', { sandbox_id: id })).code).toBe('sandbox_not_found');
}

/** Scenario 2: script development and debugging. */
export async function scenario2(b: BerthUnderTest): Promise<void> {
  const { sandbox_id: id } = await b.ok<Sandbox>('create_sandbox', {});
  try {
    expect(containersOf(id)).toEqual([]);
    await b.ok('write_file', { sandbox_id: id, path: 'script.py', content: 'print(1/0)' });
    // The first file operation started the container.
    expect(containersOf(id)).toHaveLength(1);
    expect((await b.ok<Sandbox>('get_sandbox', { sandbox_id: id })).status).toBe('running');

    // 要点 2: a failing program is success: false with the traceback, and no output.
    const failing = await b.ok<Exec>('python_exec', { sandbox_id: id, code: "exec(open('script.py').read())" });
    expect(failing.success).toBe(false);
    expect(failing.error).toContain('ZeroDivisionError: division by zero');
    expect(failing.error).toContain('Traceback');
    expect(failing.output).toBe('');

    // 要点 1: writing the same path again overwrites it.
    await b.ok('write_file', { sandbox_id: id, path: 'script.py', content: "print('Hello, World!')", mode: 'w' });

    // 要点 3: the output of the fixed script.
    const fixed = await b.ok<Exec>('python_exec', { sandbox_id: id, code: "exec(open('script.py').read())" });
    expect(fixed.success).toBe(true);
    expect(fixed.output).toBe('Hello, World!\n');
    expect(fixed.error).toBeNull();

    // 要点 4: reading returns the latest content.
    const read = await b.ok<{ content: string }>('read_file', { sandbox_id: id, path: 'script.py' });
    expect(read.content).toBe("print('Hello, World!')");
  } finally {
    await b.ok('delete', { sandbox_id: id });
  }
}

const FAKE_REQUESTS_SETUP = "from setuptools import setup\nsetup(name='requests', version='2.31.0', packages=['requests'])\n";

/**
 * Scenario 3: project set-up and dependency persistence. There is no network here, so the
 * package named in requirements.txt is a local source tree the test writes into the workspace
 * (called `requests`, version 2.31.0, like the seed's), installed with --no-index.
 */
export async function scenario3(b: BerthUnderTest): Promise<void> {
  const { sandbox_id: id } = await b.ok<Sandbox>('create_sandbox', {});
  try {
    await b.ok('write_file', { sandbox_id: id, path: 'vendor/requests/setup.py', content: FAKE_REQUESTS_SETUP });
    await b.ok('write_file', { sandbox_id: id, path: 'vendor/requests/requests/__init__.py', content: "__version__ = '2.31.0'\n" });
    await b.ok('write_file', { sandbox_id: id, path: 'requirements.txt', content: './vendor/requests\n' });

    // 要点 1: nested directories are created.
    await b.ok('write_file', { sandbox_id: id, path: 'src/main.py', content: 'import requests; print(requests.__version__)' });
    const listing = await b.ok<{ entries: Array<{ name: string; type: string }> }>('list_files', { sandbox_id: id, path: 'src' });
    expect(listing.entries.map((e) => [e.name, e.type])).toEqual([['main.py', 'file']]);

    const install = await b.ok<Exec>('python_exec', {
      sandbox_id: id,
      code: "import subprocess; subprocess.run(['pip', 'install', '--no-index', '--no-build-isolation', '-r', 'requirements.txt', '--target', '/workspace/.libs'], check=True, capture_output=True)",
      timeout: 180,
    });
    expect(install.error).toBeNull();
    expect(install.success).toBe(true);

    const run = await b.ok<Exec>('python_exec', { sandbox_id: id, code: "import sys; sys.path.insert(0, '/workspace/.libs'); exec(open('src/main.py').read())" });
    expect(run.output).toBe('2.31.0\n');

    await b.ok('stop', { sandbox_id: id });

    // 要点 2: what --target put in the workspace survives stop/resume.
    const resumed = await b.ok<Exec>('python_exec', { sandbox_id: id, code: "import sys; sys.path.insert(0, '/workspace/.libs'); import requests; print(requests.__version__)" });
    expect(resumed.success).toBe(true);
    expect(resumed.output).toBe('2.31.0\n');
    const origin = await b.ok<Exec>('python_exec', { sandbox_id: id, code: 'print(requests.__file__)' });
    expect(origin.output).toContain('/workspace/.libs/requests/');
  } finally {
    await b.ok('delete', { sandbox_id: id });
  }
}

/** Scenario 4: the minimal path, lazy start and full clean-up. */
export async function scenario4(b: BerthUnderTest): Promise<void> {
  const created = await b.ok<Sandbox>('create_sandbox', {});
  const id = created.sandbox_id;
  // 要点 2: creating starts no container.
  expect(created.status).toBe('idle');
  expect(containersOf(id)).toEqual([]);
  expect(volumeExists(`berth-ws-${id}`)).toBe(true);

  // 要点 3: the first exec starts it and answers.
  const run = await b.ok<Exec>('python_exec', { sandbox_id: id, code: 'print(2 * 21)' });
  expect(run.success).toBe(true);
  expect(run.output).toBe('42\n');
  expect(containersOf(id)).toHaveLength(1);

  // 要点 1 and 4: delete removes container and volume; then the sandbox does not exist.
  const deleted = await b.ok<{ deleted: boolean }>('delete', { sandbox_id: id });
  expect(deleted.deleted).toBe(true);
  expect(containersOf(id)).toEqual([]);
  expect(volumeExists(`berth-ws-${id}`)).toBe(false);
  for (const [tool, args] of [
    ['get_sandbox', {}],
    ['python_exec', { code: 'print(1)' }],
    ['read_file', { path: 'x.txt' }],
    ['stop', {}],
    ['delete', {}],
  ] as const) {
    const after = await b.call(tool, { sandbox_id: id, ...args });
    expect(after.isError, tool).toBe(true);
    expect(after.code, tool).toBe('sandbox_not_found');
    expect(after.text).toContain('does not exist');
  }
  expect((await b.ok<{ sandboxes: Sandbox[] }>('list_sandboxes', {})).sandboxes.map((s) => s.sandbox_id)).not.toContain(id);
}
