import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BerthError } from '../errors.js';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]', '::1'];

export function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.includes(host) || host.startsWith('127.');
}

export interface GuardOptions {
  /** The address the server is bound to. */
  bindHost: string;
  /** The port it listens on (for same-origin checks). */
  port: () => number;
  token: string | undefined;
  allowedHosts: string[];
  allowedOrigins: string[];
}

/**
 * Request guards of the HTTP fronts: Host and Origin validation against DNS rebinding, and bearer
 * authentication. The host list is the bind address, the loopback names when bound to loopback,
 * and whatever BERTH_ALLOWED_HOSTS adds.
 */
export class RequestGuard {
  private readonly tokenDigest: Buffer | undefined;

  constructor(private readonly options: GuardOptions) {
    this.tokenDigest = options.token ? digest(options.token) : undefined;
  }

  private allowedHostnames(): Set<string> {
    const names = new Set<string>(this.options.allowedHosts.map((h) => h.toLowerCase()));
    const bind = this.options.bindHost.toLowerCase();
    if (bind !== '0.0.0.0' && bind !== '::') names.add(bind.includes(':') && !bind.startsWith('[') ? `[${bind}]` : bind);
    if (isLoopback(bind) || bind === '0.0.0.0' || bind === '::') for (const n of LOOPBACK_NAMES) names.add(n);
    return names;
  }

  /** Throws `forbidden` for a Host or Origin that is not ours. */
  checkOrigin(req: IncomingMessage): void {
    const hostHeader = (req.headers.host ?? '').toLowerCase();
    const hostname = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.split(':')[0] ?? '';
    const allowed = this.allowedHostnames();
    if (!allowed.has(hostname) && !this.options.allowedHosts.includes(hostHeader)) {
      throw new BerthError('forbidden', `Host "${hostHeader}" is not allowed; add it to BERTH_ALLOWED_HOSTS if this is intended`);
    }
    const origin = req.headers.origin;
    if (origin === undefined || origin === 'null') {
      if (origin === 'null') throw new BerthError('forbidden', 'Origin "null" is not allowed');
      return;
    }
    if (this.options.allowedOrigins.includes(origin) || this.options.allowedOrigins.includes('*')) return;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new BerthError('forbidden', `Origin "${origin}" is not a valid origin`);
    }
    const port = url.port === '' ? (url.protocol === 'https:' ? '443' : '80') : url.port;
    if (allowed.has(url.hostname.toLowerCase()) && port === String(this.options.port())) return;
    throw new BerthError('forbidden', `Origin "${origin}" is not allowed; add it to BERTH_ALLOWED_ORIGINS if this is intended`);
  }

  /** Throws `unauthorized` unless the request carries the bearer token (when one is configured). */
  checkAuth(req: IncomingMessage): void {
    if (!this.tokenDigest) return;
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match?.[1]) throw new BerthError('unauthorized', 'missing bearer token: send "Authorization: Bearer <token>" (BERTH_TOKEN)');
    if (!timingSafeEqual(digest(match[1].trim()), this.tokenDigest)) throw new BerthError('unauthorized', 'invalid bearer token');
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
