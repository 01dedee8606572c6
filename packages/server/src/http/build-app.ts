/**
 * The HTTP layer: Fastify over HTTPS. It authenticates (bearer token), authorizes (the route's
 * roles), validates (JSON schema), calls the route handler and maps error categories to statuses
 * — the only place that knows HTTP status codes (docs/errors.md).
 */
import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { isProvisioError } from '@provisio/pki';
import { assertUniqueMembers } from '@provisio/protocol';
import type { Actor, ServiceDeps } from '../domain/deps.js';
import { DatabaseUnavailable, ServiceError } from '../domain/errors.js';
import { SessionBook } from '../domain/sessions.js';
import { authenticateToken } from '../domain/users.js';
import type { OcspResponderService } from '../ca/ocsp-responder.js';
import { AdmissionLimiter, type AdmissionOptions } from './admission.js';
import { ClientRateLimiter, type ClientRateOptions } from './client-rate-limit.js';
import type { DecisionWaiters } from './decision-waiters.js';
import { buildOpenApi } from './openapi.js';
import type { RouteSpec } from './route.js';
import { registerCmpRoutes } from './cmp-routes.js';
import { registerScepRoutes } from './scep-routes.js';
import { registerEstRoutes } from './est-routes.js';
import { isOcspPath, registerRevocationRoutes, sendOcspMalformed } from './revocation-routes.js';
import { ROUTES } from './routes.js';
import { registerSessionRoutes, SESSION_OPENAPI_PATHS, sessionCookie } from './session-routes.js';
import { createWebFiles, findWebRoot } from './web-static.js';

export const STATUS: Record<string, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

export interface HttpOptions {
  readonly tls?: { readonly key: string; readonly cert: string };
  /** Log lines go here; never bodies, tokens or keys. */
  readonly log?: (line: string) => void;
  /** Limits of the routes marked `admission` (default 64 in flight, 256 queued). */
  readonly admission?: Partial<AdmissionOptions>;
  /** The OCSP responder; with it the CRL and OCSP endpoints are served (http/revocation-routes.ts). */
  readonly ocsp?: OcspResponderService;
  /** Per-client token buckets in front of admission (default 50/s, burst 100; rate 0 = off). */
  readonly clientRate?: Partial<ClientRateOptions>;
  /** Where device long-polls are held and woken (absent: polls are answered at once). */
  readonly decisionWaiters?: DecisionWaiters;
  /**
   * The built admin web UI served at `/` (http/web-static.ts): a directory, null for none, or
   * absent to serve the @provisio/web package's build when there is one.
   */
  readonly webRoot?: string | null;
}

/** Methods that change nothing: a cookie-authenticated call needs no CSRF token for them. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.status(status).type('application/json').send({ error: { code, message } });
}

/**
 * The caller: by API token (the CLI, scripts) when an Authorization header is sent, else by the
 * browser session cookie, whose unsafe requests must also carry the session's CSRF token.
 */
async function authenticate(deps: ServiceDeps, sessions: SessionBook, request: FastifyRequest): Promise<Actor | null> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    if (!header.startsWith('Bearer ')) return null;
    const user = await authenticateToken(deps, header.slice('Bearer '.length).trim());
    return user ? { userId: user.id, username: user.username, role: user.role } : null;
  }
  const sessionId = sessionCookie(request);
  if (!sessionId) return null;
  const session = await sessions.resume(sessionId);
  if (!SAFE_METHODS.has(request.method)) SessionBook.checkCsrf(session, request.headers['x-csrf-token'] as string | undefined);
  return session.actor;
}

/**
 * The client certificate on this connection (DER; empty without TLS or without a client
 * certificate). Nothing here is trusted yet: the domain verifies it. Only the leaf: the domain
 * builds the path through the service's own issuing CA and would ignore anything else the client
 * sent, and decoding the whole chain (getPeerCertificate(true)) costs more than the TLS
 * handshake's own certificate checks (bench/RESULTS.md).
 */
function clientCertificates(request: FastifyRequest): Buffer[] {
  const socket = request.raw.socket as Partial<TLSSocket>;
  const leaf = typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
  return leaf ? [leaf.raw] : [];
}

function mediaType(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
}

function rawLimit(route: RouteSpec, type: string): number {
  return route.rawBody?.maxBytesByType?.[type] ?? route.rawBody?.maxBytes ?? 0;
}

const TOO_LARGE = 'the body is larger than this route accepts for its content type';

/**
 * The body stream, failing with `body_too_large` once more than `limit` bytes arrive: the request
 * is unpiped and left unread, so nothing past the limit is taken in.
 */
function capBody(payload: Readable, announced: number, limit: number): Readable {
  if (announced > limit) throw new ServiceError('body_too_large', TOO_LARGE);
  let received = 0;
  return payload.pipe(new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received > limit) callback(new ServiceError('body_too_large', TOO_LARGE));
      else callback(null, chunk);
    },
  }));
}

const actors = new WeakMap<FastifyRequest, Actor>();

/**
 * The admission hook (first onRequest hook of an `admission` route, before authentication and
 * before the body is read): take a slot or a place in the FIFO queue, or answer 503 at once. The
 * slot is freed when the response is finished or the connection closes, whatever happened.
 */
function admit(limiter: AdmissionLimiter) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const ticket = limiter.tryAdmit();
    if (!ticket) {
      const seconds = limiter.retryAfterSeconds();
      reply.header('retry-after', String(seconds));
      return sendError(reply, 503, 'service_unavailable', `the service is busy; retry after ${seconds} s`);
    }
    reply.raw.once('close', ticket.release);
    if (!(await ticket.ready)) {
      // Released while queued: the caller went away before its turn.
      throw new ServiceError('service_unavailable', `${request.method} ${request.url.split('?')[0]} left the admission queue`);
    }
    return undefined;
  };
}

/**
 * Who a call counts against: its API token on authenticated routes (hashed: the token itself is
 * never kept), its IP address on public routes and when it carries no token.
 */
function clientKey(route: RouteSpec, request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (route.roles !== 'public' && header?.startsWith('Bearer ')) {
    return `token:${createHash('sha256').update(header.slice('Bearer '.length).trim()).digest('hex').slice(0, 32)}`;
  }
  return `ip:${request.ip}`;
}

/** The per-client hook (the first onRequest hook): 429 rate_limited + Retry-After when the bucket is empty. */
function limitRate(limiter: ClientRateLimiter, route: RouteSpec) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const decision = limiter.take(clientKey(route, request), performance.now());
    if (decision.allowed) return undefined;
    reply.header('retry-after', String(decision.retryAfterSeconds));
    return sendError(reply, 429, 'rate_limited', `too many calls from this client; retry after ${decision.retryAfterSeconds} s`);
  };
}

interface Limiters {
  readonly admission: AdmissionLimiter;
  readonly clientRate: ClientRateLimiter;
  readonly decisionWaiters: DecisionWaiters | undefined;
  readonly ocsp: OcspResponderService | undefined;
}

function register(app: FastifyInstance, deps: ServiceDeps, sessions: SessionBook, route: RouteSpec, limiters: Limiters): void {
  app.route({
    method: route.method,
    url: route.url,
    schema: {
      ...(route.params ? { params: route.params } : {}),
      ...(route.query ? { querystring: route.query } : {}),
      ...(route.body ? { body: route.body } : {}),
    },
    ...(route.rawBody ? { bodyLimit: Math.max(route.rawBody.maxBytes, ...Object.values(route.rawBody.maxBytesByType ?? {})) } : {}),
    ...(route.bodyLimit ? { bodyLimit: route.bodyLimit } : {}),
    // Authentication and the role check run before body validation: an anonymous caller or a
    // wrong role learns nothing about the route's schema.
    onRequest: [
      ...(limiters.clientRate.enabled ? [limitRate(limiters.clientRate, route)] : []),
      ...(route.admission ? [admit(limiters.admission)] : []),
      async (request: FastifyRequest) => {
        // Mutual-TLS routes: no certificate, no further look (the handler verifies one that came).
        if (route.clientCertificate && clientCertificates(request).length === 0) {
          throw new ServiceError('client_certificate_required', `${route.method} ${route.url} needs a TLS client certificate (mutual TLS)`);
        }
        if (route.roles === 'public') return;
        const actor = await authenticate(deps, sessions, request);
        if (!actor) throw new ServiceError('unauthenticated', 'missing or invalid API token; pass it as "Authorization: Bearer <token>", or sign in');
        if (!route.roles.includes(actor.role)) {
          throw new ServiceError('role_forbidden', `the ${actor.role} role may not ${route.summary.charAt(0).toLowerCase()}${route.summary.slice(1)}; allowed: ${route.roles.join(', ')}`);
        }
        actors.set(request, actor);
      },
    ],
    // Each raw type has its own limit, below the route's bodyLimit (the largest of them): refused
    // by its announced length, and a body without one (chunked) is cut off as it streams, before
    // more than the limit is buffered.
    ...(route.rawBody ? { preParsing: async (request: FastifyRequest, _reply: FastifyReply, payload: Readable) => capBody(payload, Number(request.headers['content-length'] ?? 0), rawLimit(route, mediaType(request))) } : {}),
    handler: async (request, reply) => {
      const actor = actors.get(request) ?? null;
      const type = mediaType(request);
      if (route.rawBody) {
        if (!route.rawBody.contentTypes.includes(type) || !Buffer.isBuffer(request.body)) {
          throw new ServiceError('validation_failed', `send the file as ${route.rawBody.contentTypes[0]}`);
        }
      }
      const result = await route.handler({
        deps,
        actor,
        params: (request.params ?? {}) as Record<string, string>,
        query: (request.query ?? {}) as Record<string, unknown>,
        body: request.body,
        ...(route.rawBody ? { contentType: type } : {}),
        ...(route.clientCertificate ? { clientCertificates: clientCertificates(request) } : {}),
        ...(limiters.decisionWaiters ? { decisionWaiters: limiters.decisionWaiters } : {}),
        ...(limiters.ocsp ? { ocsp: limiters.ocsp } : {}),
      });
      for (const [k, v] of Object.entries(result.headers ?? {})) reply.header(k, v);
      reply.status(result.status ?? 200);
      if (result.contentType) return reply.type(result.contentType).send(result.body);
      return reply.type('application/json').send(result.body);
    },
  });
}

export async function buildApp(deps: ServiceDeps, options: HttpOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    // Client certificates are requested, never required: only the device confirmation and the
    // gateway routes (clientCertificate in their RouteSpec) use one, and it verifies the chain itself against the
    // service's root, so every other route keeps working for callers without a certificate.
    ...(options.tls ? { https: { key: options.tls.key, cert: options.tls.cert, requestCert: true, rejectUnauthorized: false } } : {}),
    // Bodies other than the raw uploads are small JSON objects.
    bodyLimit: 64 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    // A URL the router cannot decode (bad percent-encoding) never reaches a route: answered here,
    // in OCSP on the responder's path (a protocol answers in its own protocol).
    frameworkErrors: (error, request, reply) => {
      if (isOcspPath(request.url)) return sendOcspMalformed(reply);
      return sendError(reply, 400, 'validation_failed', error.message);
    },
  });

  // JSON bodies are read as strictly as signed files (docs/decisions.md D29): Fastify's own parser
  // (which refuses __proto__ and constructor.prototype), then one member per name, since
  // JSON.parse would silently keep the last of two.
  const fastifyJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    fastifyJson(request, body as string, (error, value) => {
      if (error) return done(error, undefined);
      try {
        assertUniqueMembers(body as string, 'the request body');
      } catch (e) {
        return done(e as Error, undefined);
      }
      return done(null, value);
    });
  });
  const rawTypes = new Set(ROUTES.flatMap((r) => r.rawBody?.contentTypes ?? []));
  for (const type of rawTypes) {
    app.addContentTypeParser(type, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  }
  const limiters: Limiters = {
    admission: new AdmissionLimiter(options.admission),
    clientRate: new ClientRateLimiter(options.clientRate),
    decisionWaiters: options.decisionWaiters,
    ocsp: options.ocsp,
  };
  const sessions = new SessionBook(deps);
  for (const route of ROUTES) register(app, deps, sessions, route, limiters);
  registerSessionRoutes(app, sessions, admit(limiters.admission));
  if (options.ocsp) registerRevocationRoutes(app, deps, options.ocsp, options.log);
  registerEstRoutes(app, deps, options.log);
  registerCmpRoutes(app, deps, options.log);
  registerScepRoutes(app, deps, options.log);

  const openapi = buildOpenApi(ROUTES, deps.urls.serviceUrl, SESSION_OPENAPI_PATHS);
  app.get('/openapi.json', async (_request, reply) => reply.type('application/json').send(openapi));

  const webRoot = options.webRoot === undefined ? findWebRoot() : options.webRoot;
  const web = webRoot ? createWebFiles(webRoot) : null;
  app.setNotFoundHandler((request, reply) => web?.serve(request, reply) ? reply : sendError(reply, 404, 'route_not_found', `no route ${request.method} ${request.url.split('?')[0]}; see /openapi.json`));

  app.setErrorHandler((error, request, reply) => {
    if (isProvisioError(error)) {
      const status = error.code === 'body_too_large' ? 413 : STATUS[error.category] ?? 500;
      if (error instanceof DatabaseUnavailable) {
        // Our own message (no cause echoed); the cause goes to the log.
        options.log?.(`database unavailable during ${request.method} ${request.url.split('?')[0]}: ${error.reason}`);
        reply.header('retry-after', String(error.retryAfterSeconds));
        return sendError(reply, status, error.code, error.message);
      }
      if (status >= 500) return sendError(reply, status, error.code, 'the service failed; the cause is in the server log');
      return sendError(reply, status, error.code, error.message);
    }
    const e = error as { code?: string; statusCode?: number; validation?: unknown; message: string };
    if (e.validation) return sendError(reply, 400, 'validation_failed', e.message);
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, 413, 'body_too_large', 'the body is larger than this route accepts');
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e.statusCode === 415) {
      return sendError(reply, 400, 'validation_failed', e.message);
    }
    if (e.statusCode && e.statusCode < 500) return sendError(reply, e.statusCode, 'validation_failed', e.message);
    options.log?.(`error ${request.method} ${request.url.split('?')[0]}: ${error instanceof Error ? error.stack : String(error)}`);
    return sendError(reply, 500, 'internal', 'the service failed; the cause is in the server log');
  });
  return app;
}
