/**
 * The admin web UI's built files (packages/web/dist) served at `/` (docs/web.md): exact media
 * types, index.html for the page's own routes (/devices/...), a year of caching for the hashed
 * files under /assets/, and a strict Content-Security-Policy: only this origin's scripts, styles
 * and API, no inline script, never framed.
 */
import { isIP } from 'node:net';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, sep } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

export const CONTENT_SECURITY_POLICY = [
  'default-src \'none\'',
  'script-src \'self\'',
  'style-src \'self\'',
  'img-src \'self\' data:',
  'font-src \'self\'',
  'connect-src \'self\'',
  'base-uri \'none\'',
  'form-action \'self\'',
  'frame-ancestors \'none\'',
].join('; ');

/** Paths that belong to the API and the protocols: never answered with the page. */
const NOT_PAGES = /^\/(api|ca|crl|ocsp|openapi\.json|\.well-known)(\/|$)/;

/** The built UI of the @provisio/web workspace package, or null when it was not built. */
export function findWebRoot(): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve('@provisio/web/package.json');
    const dist = join(dirname(pkg), 'dist');
    return existsSync(join(dist, 'index.html')) ? dist : null;
  } catch {
    return null;
  }
}

/**
 * HSTS for the UI (RFC 6797): a year, without includeSubDomains (the service's name may share a
 * parent with plain-HTTP services it does not own). Not sent when the browser reached the
 * service by an IP address or a localhost name: browsers ignore it for IP literals (RFC 6797
 * §8.1.1) and some keep it for localhost, which would force every development server there to
 * HTTPS for a year.
 */
export const STRICT_TRANSPORT_SECURITY = 'max-age=31536000';

function isLocalOrIp(hostHeader: string | undefined): boolean {
  const host = (hostHeader ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return host === '' || host === 'localhost' || host.endsWith('.localhost') || isIP(host) !== 0;
}

export interface WebFiles {
  /** Answers a GET/HEAD for the UI, or returns false when the path is not the UI's. */
  serve(request: FastifyRequest, reply: FastifyReply): boolean;
}

export function createWebFiles(root: string): WebFiles {
  const base = realpathSync(root);
  const send = (reply: FastifyReply, file: string, isHashed: boolean) => {
    if (!isLocalOrIp(reply.request.headers.host)) reply.header('strict-transport-security', STRICT_TRANSPORT_SECURITY);
    reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      // Hashed names change with their content; index.html must be fetched again every time.
      .header('cache-control', isHashed ? 'public, max-age=31536000, immutable' : 'no-cache')
      .type(TYPES[extname(file)] ?? 'application/octet-stream')
      .send(readFileSync(file));
  };
  return {
    serve(request, reply) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return false;
      let path: string;
      try {
        path = decodeURIComponent((request.url.split('?')[0] ?? '/'));
      } catch {
        return false;
      }
      if (NOT_PAGES.test(path) || path.includes('\0')) return false;
      const candidate = join(base, path);
      // A path that climbs out of the root (../) is the page, never a file outside.
      if ((candidate === base || candidate.startsWith(base + sep)) && existsSync(candidate) && statSync(candidate).isFile() && realpathSync(candidate).startsWith(base + sep)) {
        send(reply, candidate, path.startsWith('/assets/'));
        return true;
      }
      // A missing asset is a 404, not the page: a stale index.html must not get HTML as script.
      if (path.startsWith('/assets/') || extname(path) !== '') return false;
      send(reply, join(base, 'index.html'), false);
      return true;
    },
  };
}
