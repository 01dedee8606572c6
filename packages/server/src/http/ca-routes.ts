/** The CA overview for the web UI's CA page (docs/web.md): READERS may look. */
import { encodePem, formatName, type ParsedCertificate } from '@provisio/pki';
import { describeCa } from '../domain/ca-overview.js';
import type { Role } from '../domain/model.js';
import type { RouteSpec } from './route.js';

const READERS: readonly Role[] = ['admin', 'approver', 'auditor'];

function caCertificateView(role: string, c: ParsedCertificate) {
  return {
    role,
    subject: formatName(c.subject),
    issuer: formatName(c.issuer),
    serial: c.serial,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    sha256: c.fingerprint,
    pem: encodePem('CERTIFICATE', c.der),
  };
}

export const CA_ROUTES: readonly RouteSpec[] = [
  {
    method: 'GET', url: '/api/v1/ca', operationId: 'describeCa', summary: 'The CA hierarchy in use (root, issuing CA, profile signer, OCSP responder) and the newest CRL', roles: READERS,
    handler: async ({ deps }) => {
      const ca = await describeCa(deps);
      return {
        body: {
          certificates: [
            caCertificateView('root', ca.root),
            caCertificateView('issuing CA', ca.intermediate),
            ...(ca.profileSigner ? [caCertificateView('profile signer', ca.profileSigner)] : []),
            caCertificateView('OCSP responder', ca.ocspResponder),
          ],
          crl: ca.crl ? { number: ca.crl.crlNumber, thisUpdate: ca.crl.thisUpdate.toISOString(), nextUpdate: ca.crl.nextUpdate.toISOString(), url: ca.crlUrl } : null,
          ocsp: { url: ca.ocspUrl },
        },
      };
    },
  },
];
