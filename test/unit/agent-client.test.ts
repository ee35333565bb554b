import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { AgentClient, type AgentChannel, type OutputEvent } from '../../src/agent/agent-client.js';
import { BerthError } from '../../src/errors.js';

const Anything = z.unknown();
type Request = { id: string; op: string; [key: string]: unknown };

/** A client over two PassThrough streams, and the agent's end of them. */
function pair() {
  const toAgent = new PassThrough();
  const fromAgent = new PassThrough();
  let closeCalls = 0;
  const channel: AgentChannel = {
    input: fromAgent,
    output: toAgent,
    close: () => {
      closeCalls++;
      fromAgent.end();
    },
  };
  const received: Request[] = [];
  const waiters: Array<() => void> = [];
  let buffer = '';
  toAgent.setEncoding('utf8');
  toAgent.on('data', (chunk: string) => {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) received.push(JSON.parse(line) as Request);
    for (const wake of waiters.splice(0)) wake();
  });
  const agent = {
    received,
    /** Resolves once `n` requests have arrived. */
    async requests(n: number): Promise<Request[]> {
      while (received.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
      return received.slice(0, n);
    },
    send(message: unknown) {
      fromAgent.write(`${JSON.stringify(message)}\n`);
    },
    raw(text: string) {
      fromAgent.write(text);
    },
    end() {
      fromAgent.end();
    },
    get closeCalls() {
      return closeCalls;
    },
  };
  return { client: new AgentClient(channel), agent };
}

async function rejection(promise: Promise<unknown>): Promise<BerthError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BerthError);
  return error as BerthError;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('AgentClient', () => {
  it('writes one JSON line per request with a unique id, the op and its arguments', async () => {
    const { client, agent } = pair();
    void client.request('read', { path: 'a.txt' }, Anything).catch(() => undefined);
    void client.request('read', { path: 'b.txt' }, Anything, { onOutput: () => undefined }).catch(() => undefined);
    const [a, b] = await agent.requests(2);
    expect(a).toMatchObject({ op: 'read', path: 'a.txt', stream: false });
    expect(b).toMatchObject({ op: 'read', path: 'b.txt', stream: true });
    expect(a!.id).not.toBe(b!.id);
    client.close();
  });

  it('multiplexes concurrent requests answered out of order', async () => {
    const { client, agent } = pair();
    const results = [1, 2, 3].map((n) => client.request('exec', { code: `${n}` }, z.object({ n: z.number() })));
    const requests = await agent.requests(3);
    // Answer in reverse, the middle one split across writes.
    agent.send({ id: requests[2]!.id, ok: true, result: { n: 3 } });
    const middle = JSON.stringify({ id: requests[1]!.id, ok: true, result: { n: 2 } });
    agent.raw(middle.slice(0, 10));
    agent.raw(`${middle.slice(10)}\n`);
    agent.send({ id: requests[0]!.id, ok: true, result: { n: 1 } });
    expect(await Promise.all(results)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('routes output events to the onOutput of their own request', async () => {
    const { client, agent } = pair();
    const first: OutputEvent[] = [];
    const second: OutputEvent[] = [];
    const a = client.request('exec', {}, Anything, { onOutput: (e) => first.push(e) });
    const b = client.request('exec', {}, Anything, { onOutput: (e) => second.push(e) });
    const [ra, rb] = await agent.requests(2);
    agent.send({ id: rb!.id, event: 'output', data: { stream: 'stdout', text: 'b1' } });
    agent.send({ id: ra!.id, event: 'output', data: { stream: 'stderr', text: 'a1' } });
    agent.send({ id: ra!.id, event: 'output', data: { stream: 'stdout', text: 'a2' } });
    agent.send({ id: ra!.id, ok: true, result: 'A' });
    agent.send({ id: rb!.id, ok: true, result: 'B' });
    expect(await a).toBe('A');
    expect(await b).toBe('B');
    expect(first).toEqual([
      { stream: 'stderr', text: 'a1' },
      { stream: 'stdout', text: 'a2' },
    ]);
    expect(second).toEqual([{ stream: 'stdout', text: 'b1' }]);
  });

  it('ignores stray lines, unknown ids and id-less errors', async () => {
    const { client, agent } = pair();
    const p = client.request('hello', {}, Anything);
    const [r] = await agent.requests(1);
    agent.raw('not json\n');
    agent.send({ something: 'else' });
    agent.send({ id: 'nobody', ok: true, result: 'wrong' });
    agent.send({ id: null, ok: false, error: { code: 'invalid_argument', message: 'bad request' } });
    agent.send({ id: r!.id, ok: true, result: 'right' });
    expect(await p).toBe('right');
    expect(client.closed).toBe(false);
  });

  it.each([
    ['file_not_found', 'file_not_found'],
    ['invalid_path', 'invalid_path'],
    ['file_too_large', 'file_too_large'],
    ['permission_denied', 'permission_denied'],
    ['some_future_code', 'internal'],
  ])('maps the agent error %s to the BerthError code %s, with message and details', async (wire, code) => {
    const { client, agent } = pair();
    const p = client.request('read', { path: 'x' }, Anything);
    const [r] = await agent.requests(1);
    agent.send({ id: r!.id, ok: false, error: { code: wire, message: 'it failed', details: { path: 'x' } } });
    const error = await rejection(p);
    expect(error.code).toBe(code);
    expect(error.message).toBe('it failed');
    expect(error.details).toEqual({ path: 'x' });
  });

  it('rejects a result of the wrong shape with internal', async () => {
    const { client, agent } = pair();
    const p = client.request('stat', {}, z.object({ size: z.number() }));
    const [r] = await agent.requests(1);
    agent.send({ id: r!.id, ok: true, result: { size: 'big' } });
    const error = await rejection(p);
    expect(error.code).toBe('internal');
    expect(error.message).toContain('"stat"');
  });

  it('rejects every pending request with sandbox_unavailable when the channel closes, and later ones at once', async () => {
    const { client, agent } = pair();
    const closes: BerthError[] = [];
    client.onClose((e) => closes.push(e));
    const pending = [client.request('exec', {}, Anything), client.request('read', {}, Anything)];
    await agent.requests(2);
    agent.end();
    for (const p of pending) expect((await rejection(p)).code).toBe('sandbox_unavailable');
    expect(client.closed).toBe(true);
    expect(closes).toHaveLength(1);
    expect(closes[0]!.code).toBe('sandbox_unavailable');
    expect((await rejection(client.request('hello', {}, Anything))).code).toBe('sandbox_unavailable');
    // A listener added after the close hears of it at once.
    let late: BerthError | undefined;
    client.onClose((e) => (late = e));
    expect(late?.code).toBe('sandbox_unavailable');
  });

  it('close() rejects pending requests and closes the channel', async () => {
    const { client, agent } = pair();
    const p = client.request('exec', {}, Anything);
    await agent.requests(1);
    client.close();
    expect((await rejection(p)).code).toBe('sandbox_unavailable');
    expect(agent.closeCalls).toBe(1);
  });

  it('a stream error closes the client', async () => {
    const toAgent = new PassThrough();
    const fromAgent = new PassThrough();
    const client = new AgentClient({ input: fromAgent, output: toAgent, close: () => undefined });
    const p = client.request('exec', {}, Anything);
    fromAgent.destroy(new Error('broken pipe'));
    const error = await rejection(p);
    expect(error.code).toBe('sandbox_unavailable');
    expect(error.message).toContain('broken pipe');
  });

  it('abort sends a cancel for the request and rejects with cancelled', async () => {
    const { client, agent } = pair();
    const controller = new AbortController();
    const p = client.request('exec', { code: 'sleep' }, Anything, { signal: controller.signal });
    const [r] = await agent.requests(1);
    controller.abort();
    const error = await rejection(p);
    expect(error.code).toBe('cancelled');
    const [, cancel] = await agent.requests(2);
    expect(cancel).toMatchObject({ op: 'cancel', target: r!.id });
    // A late answer to the cancelled request is ignored; the client keeps working.
    agent.send({ id: r!.id, ok: true, result: 'late' });
    const next = client.request('hello', {}, Anything);
    const [, , hello] = await agent.requests(3);
    agent.send({ id: hello!.id, ok: true, result: 'hi' });
    expect(await next).toBe('hi');
  });

  it('an already aborted signal rejects without sending anything', async () => {
    const { client, agent } = pair();
    const error = await rejection(client.request('exec', {}, Anything, { signal: AbortSignal.abort() }));
    expect(error.code).toBe('cancelled');
    await new Promise((resolve) => setImmediate(resolve));
    expect(agent.received).toHaveLength(0);
  });

  it('the backstop timeout rejects with timeout and cancels on the agent', async () => {
    vi.useFakeTimers();
    const { client, agent } = pair();
    const p = client.request('shell', {}, Anything, { timeoutMs: 5000 });
    const settled = rejection(p);
    const [r] = await agent.requests(1);
    await vi.advanceTimersByTimeAsync(4999);
    expect(agent.received).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    const error = await settled;
    expect(error.code).toBe('timeout');
    expect(error.message).toContain('"shell" within 5 s');
    const [, cancel] = await agent.requests(2);
    expect(cancel).toMatchObject({ op: 'cancel', target: r!.id });
  });

  it('an answer before the backstop clears it', async () => {
    vi.useFakeTimers();
    const { client, agent } = pair();
    const p = client.request('shell', {}, Anything, { timeoutMs: 5000 });
    const [r] = await agent.requests(1);
    agent.send({ id: r!.id, ok: true, result: 'done' });
    expect(await p).toBe('done');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(agent.received).toHaveLength(1); // no cancel was sent
  });
});
