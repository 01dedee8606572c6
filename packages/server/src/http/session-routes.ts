/**
 * Browser sessions over HTTP (docs/web.md "Sessions and CSRF"): sign in, who am I, sign out. The
 * session id travels only in an HttpOnly, Secure, SameSite=Strict `__Host-` cookie; the CSRF token
 * in the JSON answer, which the page sends back as X-CSRF-Token on POST and DELETE (checked in
 * build-app.ts). API tokens (the CLI) need none of this.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { ServiceError } from '../domain/errors.js';
import { type SessionBook, type SessionInfo, SessionBook as Book, SignInThrottled } from '../domain/sessions.js';

/** `__Host-`: the browser keeps it only when Secure, Path=/ and without Domain (RFC 6265bis §4.1.3.2). */
export const SESSION_COOKIE = '__Host-provisio_session';

/** The session cookie's value, or null (the Cookie header parsed by RFC 6265 §5.4's shape). */
export function sessionCookie(request: FastifyRequest): string | null {
  const header = request.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === SESSION_COOKIE) {
      const value = part.slice(i + 1).trim();
      return /^[A-Za-z0-9_-]{1,128}$/.test(value) ? value : null;
    }
  }
  return null;
}

function setCookie(reply: FastifyReply, value: string, clear = false): void {
  reply.header('set-cookie', `${SESSION_COOKIE}=${value}; Path=/; Secure; HttpOnly; SameSite=Strict${clear ? '; Max-Age=0' : ''}`);
}

function sessionView(s: SessionInfo) {
  return { username: s.actor.username, role: s.actor.role, csrfToken: s.csrfToken, expiresAt: s.expiresAt.toISOString() };
}

const credentials = {
  type: 'object',
  additionalProperties: false,
  properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 1024 } },
  required: ['username', 'password'],
} as const;

const sessionBody = {
  type: 'object',
  required: ['username', 'role', 'csrfToken', 'expiresAt'],
  properties: { username: { type: 'string' }, role: { type: 'string' }, csrfToken: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } },
} as const;
const errorRef = { description: 'An error: `{"error": {"code", "message"}}` with a code from docs/errors.md', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };

/** The session routes in /openapi.json: they are registered here, not in the route table. */
export const SESSION_OPENAPI_PATHS: Readonly<Record<string, Record<string, unknown>>> = {
  '/api/v1/session': {
    post: {
      'operationId': 'signIn',
      'summary': 'Sign in with a username and password: sets the session cookie, answers the CSRF token (429 sign_in_throttled with Retry-After after repeated failures)',
      'x-roles': 'public',
      'security': [],
      'requestBody': { required: true, content: { 'application/json': { schema: credentials } } },
      'responses': { 201: { description: 'Signed in', content: { 'application/json': { schema: sessionBody } } }, default: errorRef },
    },
    get: {
      'operationId': 'getSession',
      'summary': 'Who am I: the session behind the cookie and its CSRF token',
      'x-roles': 'session',
      'security': [{ session: [] }],
      'responses': { 200: { description: 'The session', content: { 'application/json': { schema: sessionBody } } }, default: errorRef },
    },
    delete: {
      'operationId': 'signOut',
      'summary': 'Sign out: ends the session and clears the cookie (needs X-CSRF-Token)',
      'x-roles': 'session',
      'security': [{ session: [] }],
      'parameters': [{ name: 'X-CSRF-Token', in: 'header', required: true, schema: { type: 'string' } }],
      'responses': { 204: { description: 'Signed out' }, default: errorRef },
    },
  },
};

export function registerSessionRoutes(app: FastifyInstance, sessions: SessionBook, admission: onRequestHookHandler): void {
  // Signing in costs a 32 MiB scrypt: under admission control like the other expensive routes.
  app.post('/api/v1/session', { schema: { body: credentials }, onRequest: admission }, async (request, reply) => {
    const b = request.body as { username: string; password: string };
    let session;
    try {
      session = await sessions.signIn(b.username, b.password, request.ip);
    } catch (e) {
      if (!(e instanceof SignInThrottled)) throw e;
      return reply.status(429).header('retry-after', String(e.retryAfterSeconds)).type('application/json').send({ error: { code: e.code, message: e.message } });
    }
    setCookie(reply, session.sessionId);
    return reply.status(201).header('cache-control', 'no-store').type('application/json').send(sessionView(session));
  });

  app.get('/api/v1/session', async (request, reply) => {
    const id = sessionCookie(request);
    if (!id) throw new ServiceError('unauthenticated', 'not signed in; POST /api/v1/session with a username and password');
    return reply.header('cache-control', 'no-store').type('application/json').send(sessionView(await sessions.resume(id)));
  });

  app.delete('/api/v1/session', async (request, reply) => {
    const id = sessionCookie(request);
    if (id) {
      // Signing out is an unsafe method too: another site must not sign a user out.
      Book.checkCsrf(await sessions.resume(id), request.headers['x-csrf-token'] as string | undefined);
      await sessions.signOut(id);
    }
    setCookie(reply, '', true);
    return reply.status(204).send();
  });
}
