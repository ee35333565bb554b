import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { z } from 'zod';
import { BerthError, isErrorCode } from '../errors.js';
import { AgentMessageSchema } from './protocol.js';

/** A byte duplex to one agent: what the driver hands over after opening a relay. */
export interface AgentChannel {
  /** Bytes from the agent (its responses and events). */
  readonly input: Readable;
  /** Bytes to the agent (requests). */
  readonly output: Writable;
  /** Ends the relay. Idempotent. */
  close(): void;
}

export interface OutputEvent {
  stream: string;
  text: string;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Backstop deadline for the answer; the agent enforces the real one for exec and shell. */
  timeoutMs?: number;
  onOutput?: (event: OutputEvent) => void;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: BerthError) => void;
  onOutput?: (event: OutputEvent) => void;
}

/**
 * Client of the in-container agent over one channel: requests are multiplexed by id, so any
 * number may be in flight at once. When the channel closes every pending request fails with
 * `sandbox_unavailable`.
 */
export class AgentClient {
  private readonly pending = new Map<string, Pending>();
  private buffer = '';
  private closedError: BerthError | undefined;
  private readonly closeListeners: Array<(error: BerthError) => void> = [];
  private readonly prefix = randomUUID().slice(0, 8);
  private counter = 0;

  constructor(private readonly channel: AgentChannel) {
    channel.input.setEncoding('utf8');
    channel.input.on('data', (chunk: string) => this.onData(chunk));
    channel.input.on('end', () => this.shutdown('the sandbox agent closed the connection'));
    channel.input.on('close', () => this.shutdown('the sandbox agent closed the connection'));
    channel.input.on('error', (err) => this.shutdown(`connection to the sandbox agent failed: ${err.message}`));
    channel.output.on('error', (err) => this.shutdown(`connection to the sandbox agent failed: ${err.message}`));
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Called once when the channel closes, with the reason. */
  onClose(listener: (error: BerthError) => void): void {
    if (this.closedError) listener(this.closedError);
    else this.closeListeners.push(listener);
  }

  /** Sends `op` and resolves with its result parsed by `schema`; agent errors become BerthErrors. */
  async request<T extends z.ZodType>(op: string, args: Record<string, unknown>, schema: T, options: RequestOptions = {}): Promise<z.infer<T>> {
    const raw = await this.send(op, args, options);
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      throw new BerthError('internal', `the sandbox agent answered "${op}" with an unexpected shape: ${parsed.error.message}`);
    }
    return parsed.data;
  }

  close(): void {
    this.shutdown('the connection was closed');
    this.channel.close();
  }

  private send(op: string, args: Record<string, unknown>, options: RequestOptions): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const { signal, timeoutMs, onOutput } = options;
    if (signal?.aborted) return Promise.reject(new BerthError('cancelled', 'the call was cancelled'));
    const id = `${this.prefix}-${++this.counter}`;
    return new Promise<unknown>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
      };
      const onAbort = () => {
        cleanup();
        // Tell the agent, so a running execution is interrupted and a queued one never starts.
        this.write({ id: `${id}-cancel`, op: 'cancel', target: id });
        reject(new BerthError('cancelled', 'the call was cancelled by the client'));
      };
      this.pending.set(id, {
        resolve: (value) => {
          cleanup();
          resolve(value);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
        onOutput,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          cleanup();
          this.write({ id: `${id}-cancel`, op: 'cancel', target: id });
          reject(new BerthError('timeout', `the sandbox did not answer "${op}" within ${Math.round(timeoutMs / 1000)} s`));
        }, timeoutMs);
      }
      this.write({ id, op, stream: onOutput !== undefined, ...args });
    });
  }

  private write(message: Record<string, unknown>): void {
    if (this.closedError) return;
    this.channel.output.write(`${JSON.stringify(message)}\n`);
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline = this.buffer.indexOf('\n');
    while (newline !== -1) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      if (line.trim() !== '') this.onLine(line);
      newline = this.buffer.indexOf('\n');
    }
  }

  private onLine(line: string): void {
    let message;
    try {
      message = AgentMessageSchema.parse(JSON.parse(line));
    } catch {
      return; // not ours (a stray line); the protocol is line-framed so the next one is intact
    }
    if (message.id === null) return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if ('event' in message) {
      pending.onOutput?.(message.data);
    } else if (message.ok) {
      pending.resolve(message.result);
    } else {
      const { code, message: text, details } = message.error;
      pending.reject(new BerthError(isErrorCode(code) ? code : 'internal', text, { details }));
    }
  }

  private shutdown(reason: string): void {
    if (this.closedError) return;
    this.closedError = new BerthError('sandbox_unavailable', `${reason}: the sandbox's session ended. The next call starts a fresh session (files are kept, variables are lost)`);
    for (const pending of [...this.pending.values()]) pending.reject(this.closedError);
    this.pending.clear();
    for (const listener of this.closeListeners.splice(0)) listener(this.closedError);
  }
}
