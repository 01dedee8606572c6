/**
 * The public revocation endpoints (docs/service.md "CRL", "OCSP"): the CRL at the distribution
 * point every certificate names and the OCSP responder at its AIA URL. They are a Fastify plugin
 * of their own, outside the JSON API: no token, no admission queue (answers come from the store
 * and a cache of pre-signed responses, and a relying party refused here would fail closed), and
 * an error handler that answers in OCSP — a protocol answers in its own protocol.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MAX_OCSP_GET_PATH_CHARS, MAX_OCSP_REQUEST_BYTES, buildOcspErrorResponse, encodePem } from '@provisio/pki';
import type { OcspAnswer, OcspResponderService } from '../ca/ocsp-responder.js';
import { ROOT_CRL_FILE } from '../ca/root-crl.js';
import { currentCrl } from '../domain/crl.js';
import type { ServiceDeps } from '../domain/deps.js';
import type { CrlRecord } from '../domain/model.js';

export const CRL_PATH = '/crl/issuing.crl';
/** The root's CRL (decision D31), beside the issuing CA's: relying parties load both. */
export const ROOT_CRL_PATH = '/crl/root.crl';
export const OCSP_PATH = '/ocsp';

const OCSP_RESPONSE = 'application/ocsp-response';
/** RFC 5280 §4.2.1.13 / RFC 2585 §4.2: a DER CRL over HTTP is application/pkix-crl. */
const PKIX_CRL = 'application/pkix-crl';
/**
 * HTTP caches keep a CRL or an OCSP answer at most this long (and never past nextUpdate): a
 * revocation publishes a new CRL at once, and a cache should not hide it for the whole interval.
 */
export const MAX_HTTP_CACHE_SECONDS = 300;

function maxAgeSeconds(nextUpdate: Date, now: Date): number {
  return Math.max(0, Math.min(MAX_HTTP_CACHE_SECONDS, Math.floor((nextUpdate.getTime() - now.getTime()) / 1000) - 1));
}

/** Cache headers (RFC 5019 §6.2 for OCSP; the same rules for the CRL). */
function cacheHeaders(reply: FastifyReply, thisUpdate: Date, nextUpdate: Date, etag: string, now: Date): void {
  reply.header('cache-control', `public, max-age=${maxAgeSeconds(nextUpdate, now)}, no-transform, must-revalidate`);
  reply.header('etag', etag);
  reply.header('last-modified', thisUpdate.toUTCString());
  reply.header('expires', nextUpdate.toUTCString());
}

function notModified(request: FastifyRequest, etag: string): boolean {
  const header = request.headers['if-none-match'];
  return typeof header === 'string' && header.split(',').some((t) => t.trim() === etag || t.trim() === '*');
}

export function isOcspPath(url: string): boolean {
  return url === OCSP_PATH || url.startsWith(`${OCSP_PATH}/`) || url.startsWith(`${OCSP_PATH}?`);
}

/** RFC 6960 §2.3: what cannot be read as a request is answered malformedRequest, with HTTP 200. */
export function sendOcspMalformed(reply: FastifyReply): FastifyReply {
  return reply.status(200).type(OCSP_RESPONSE).header('cache-control', 'no-store').send(buildOcspErrorResponse('malformedRequest'));
}

/** Numbers restart with another issuing CA (another --ca), so the issuer is part of the tag. */
function crlEtag(crl: CrlRecord, pem: boolean): string {
  return `"crl-${crl.issuerFingerprint.slice(0, 16)}-${crl.crlNumber}${pem ? '-pem' : ''}"`;
}

export function registerRevocationRoutes(app: FastifyInstance, deps: ServiceDeps, ocsp: OcspResponderService, log?: (line: string) => void): void {
  const sendCrl = async (request: FastifyRequest, reply: FastifyReply, pem: boolean) => {
    const crl = await currentCrl(deps);
    const etag = crlEtag(crl, pem);
    cacheHeaders(reply, crl.thisUpdate, crl.nextUpdate, etag, deps.clock.now());
    if (notModified(request, etag)) return reply.status(304).send();
    if (pem) return reply.type('application/x-pem-file').send(encodePem('X509 CRL', crl.der));
    return reply.type(PKIX_CRL).send(crl.der);
  };
  app.get(CRL_PATH, (request, reply) => sendCrl(request, reply, false));
  app.get(`${CRL_PATH}.pem`, (request, reply) => sendCrl(request, reply, true));

  // The root CRL is a file from the ceremony (ca/root-crl.ts); the service only passes it on.
  const sendRootCrl = async (request: FastifyRequest, reply: FastifyReply, pem: boolean) => {
    const source = deps.authority.rootCrl;
    const crl = source.current();
    if (!crl) {
      return reply.status(404).type('text/plain').send(`no root CRL yet: sign one at the ceremony ("provisio ca root-crl") and copy it to ${ROOT_CRL_FILE} in the CA directory (docs/ceremony.md)\n`);
    }
    const etag = `"rootcrl-${deps.authority.root.fingerprint.slice(0, 16)}-${crl.crlNumber}${pem ? '-pem' : ''}"`;
    cacheHeaders(reply, crl.thisUpdate, crl.nextUpdate, etag, deps.clock.now());
    if (notModified(request, etag)) return reply.status(304).send();
    if (pem) return reply.type('application/x-pem-file').send(encodePem('X509 CRL', crl.der));
    return reply.type(PKIX_CRL).send(crl.der);
  };
  app.get(ROOT_CRL_PATH, (request, reply) => sendRootCrl(request, reply, false));
  app.get(`${ROOT_CRL_PATH}.pem`, (request, reply) => sendRootCrl(request, reply, true));

  void app.register(async (ocspApp) => {
    // Every body is taken as bytes, whatever its type: a wrong type is a malformed OCSP request,
    // answered in OCSP below, not a 415 page.
    ocspApp.removeAllContentTypeParsers();
    ocspApp.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_OCSP_REQUEST_BYTES }, (_request, body, done) => done(null, body));

    const send = (reply: FastifyReply, answer: OcspAnswer, get: boolean) => {
      reply.type(OCSP_RESPONSE);
      if (get && answer.cache) {
        cacheHeaders(reply, answer.cache.thisUpdate, answer.cache.nextUpdate, answer.cache.etag, deps.clock.now());
      } else {
        // POSTs are not cached by HTTP caches anyway; answers with a nonce or errors never.
        reply.header('cache-control', 'no-store');
      }
      return reply.status(200).send(answer.der);
    };

    ocspApp.setErrorHandler((error, request, reply) => {
      // Too large, unreadable, or our own failure: still an OCSP response (RFC 6960 §2.3).
      const e = error as { statusCode?: number };
      const status = e.statusCode !== undefined && e.statusCode < 500 ? 'malformedRequest' : 'internalError';
      if (status === 'internalError') log?.(`error ${request.method} ${OCSP_PATH}: ${error instanceof Error ? error.message : String(error)}`);
      return reply.status(200).type(OCSP_RESPONSE).header('cache-control', 'no-store').send(buildOcspErrorResponse(status));
    });
    for (const url of [OCSP_PATH, `${OCSP_PATH}/`]) {
      ocspApp.post(url, async (request, reply) => send(reply, await ocsp.answerPost(request.body), false));
    }
    ocspApp.get(`${OCSP_PATH}/*`, async (request, reply) => {
      // The raw path: base64 may hold '/' and '+', which a router's decoding would alter.
      const raw = request.raw.url ?? '';
      const segment = raw.slice(raw.indexOf(`${OCSP_PATH}/`) + OCSP_PATH.length + 1).split('?')[0] ?? '';
      const answer = segment.length > MAX_OCSP_GET_PATH_CHARS
        ? { der: buildOcspErrorResponse('malformedRequest'), cache: null }
        : await ocsp.answerGet(segment);
      if (answer.cache && notModified(request, answer.cache.etag)) {
        cacheHeaders(reply, answer.cache.thisUpdate, answer.cache.nextUpdate, answer.cache.etag, deps.clock.now());
        return reply.status(304).send();
      }
      return send(reply, answer, true);
    });
    ocspApp.get(OCSP_PATH, async (_request, reply) => send(reply, { der: buildOcspErrorResponse('malformedRequest'), cache: null }, true));
  });
}
