/**
 * CMP over HTTP (RFC 6712; RFC 9483 §6) at /.well-known/cmp and /pkix/: a POST of one DER
 * PKIMessage answered with one (docs/protocols.md). A plugin of its own, outside the JSON API:
 * whatever arrives, the answer is a PKIMessage (`application/pkixcmp`, HTTP 200, RFC 6712 §3.3),
 * an error body for what cannot be taken — CMP answers in CMP.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ServiceDeps } from '../domain/deps.js';
import { MAX_CMP_MESSAGE_BYTES } from '../protocols/cmp-message.js';
import { CmpServer } from '../protocols/cmp-server.js';

export const CMP_PATHS = ['/.well-known/cmp', '/.well-known/cmp/', '/pkix', '/pkix/'] as const;
const PKIXCMP = 'application/pkixcmp';

export function registerCmpRoutes(app: FastifyInstance, deps: ServiceDeps, log?: (line: string) => void): void {
  const server = new CmpServer(deps, log);
  const send = (reply: FastifyReply, der: Buffer) => reply.status(200).type(PKIXCMP).header('cache-control', 'no-store').send(der);
  void app.register(async (cmp) => {
    cmp.removeAllContentTypeParsers();
    cmp.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_CMP_MESSAGE_BYTES }, (_request, body, done) => done(null, body));
    // A body too large or unreadable is still answered in CMP: an error PKIMessage, as for bad DER.
    cmp.setErrorHandler(async (_error, _request, reply) => send(reply, await server.answer(Buffer.alloc(0))));
    for (const url of CMP_PATHS) {
      cmp.post(url, async (request, reply) => send(reply, await server.answer(Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0))));
    }
    cmp.post('/.well-known/cmp/p/:label', async (request, reply) => send(reply, await server.answer(Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0))));
  });
}
