/**
 * The plain-HTTP publication listener (docs/service.md "Publication listener"): the root, the
 * issuing CA certificate, the issuing CA's and the root's CRLs and the OCSP responder, and
 * nothing else. These objects are signed, so they need no TLS; serving them over https would make a relying party need a working
 * revocation check to check revocation (RFC 5280 §4.2.1.13 and RFC 6960/5019 practice: http
 * URLs in the CRL distribution point and the AIA). The certificates the CA issues name these URLs.
 */
import { registerScepRoutes } from './scep-routes.js';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { encodePem } from '@provisio/pki';
import type { OcspResponderService } from '../ca/ocsp-responder.js';
import type { ServiceDeps } from '../domain/deps.js';
import { isOcspPath, registerRevocationRoutes, sendOcspMalformed } from './revocation-routes.js';

export async function buildPublicationApp(deps: ServiceDeps, ocsp: OcspResponderService, log?: (line: string) => void): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    frameworkErrors: (error, request, reply) => {
      if (isOcspPath(request.url)) return sendOcspMalformed(reply);
      return (reply as FastifyReply).status(400).type('text/plain').send(`${error.message}\n`);
    },
  });
  const rootPem = encodePem('CERTIFICATE', deps.authority.root.der);
  const intermediatePem = encodePem('CERTIFICATE', deps.authority.intermediate.der);
  app.get('/ca/root.crt', async (_request, reply) => reply.type('application/x-pem-file').send(rootPem));
  app.get('/ca/intermediate.crt', async (_request, reply) => reply.type('application/x-pem-file').send(intermediatePem));
  // The CA Issuers URL in certificates (RFC 5280 §4.2.2.1: DER over http).
  app.get('/ca/intermediate.cer', async (_request, reply) => reply.type('application/pkix-cert').send(deps.authority.intermediate.der));
  registerRevocationRoutes(app, deps, ocsp, log);
  // SCEP over plain HTTP, as its clients speak it: the pkiMessage is signed and encrypted (D47).
  registerScepRoutes(app, deps, log);
  // Plain text: this listener has no JSON API, and says where the API is.
  app.setNotFoundHandler((request, reply) => reply.status(404).type('text/plain').send(`no ${request.method} ${request.url.split('?')[0]} here: this listener publishes only /ca/root.crt, /ca/intermediate.crt, /ca/intermediate.cer, /crl/issuing.crl, /crl/root.crl, /ocsp and SCEP at /scep; the API is at ${deps.urls.serviceUrl}\n`));
  return app;
}
