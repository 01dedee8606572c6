/** The CA overview and decoded certificates for the web UI (docs/web.md): READERS may look. */
import { describePublicKey, encodePem, extKeyUsageName, formatGeneralName, formatName, type ParsedCertificate } from '@provisio/pki';
import { describeCa } from '../domain/ca-overview.js';
import { inspectDeviceCertificate } from '../domain/inspect-certificate.js';
import type { DeviceIdText, Role } from '../domain/model.js';
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

/** A certificate decoded field by field (the same facts `provisio inspect` prints). */
function decodedView(c: ParsedCertificate) {
  const d = c.decoded;
  return {
    subject: formatName(c.subject),
    issuer: formatName(c.issuer),
    serial: c.serial,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    publicKey: describePublicKey(c.publicKey),
    signatureAlgorithm: c.signatureAlgorithm.name,
    subjectAltNames: (d.subjectAltName ?? []).map(formatGeneralName),
    keyUsage: d.keyUsage ? [...d.keyUsage] : [],
    extKeyUsage: (d.extKeyUsage ?? []).map(extKeyUsageName),
    ca: d.basicConstraints?.ca === true,
    crlUrls: d.crlDistributionPoints ?? [],
    ocspUrls: d.ocspUrls ?? [],
    sha256: c.fingerprint,
  };
}

const deviceCertParams = {
  type: 'object', additionalProperties: false, required: ['deviceId', 'serial'],
  properties: { deviceId: { type: 'string', minLength: 1, maxLength: 80, pattern: '^[A-Za-z0-9._:-]+$' }, serial: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[0-9A-Fa-f]+$' } },
} as const;

export const CA_ROUTES: readonly RouteSpec[] = [
  {
    method: 'GET', url: '/api/v1/devices/:deviceId/certificates/:serial', operationId: 'inspectDeviceCertificate', summary: 'One certificate of a device and its chain, decoded, with the chain verified to the root now', roles: READERS,
    params: deviceCertParams,
    handler: async ({ deps, params }) => {
      const r = await inspectDeviceCertificate(deps, params.deviceId as DeviceIdText, params.serial as string);
      return { body: { status: r.record.status, revocationReason: r.record.revocationReason, verification: r.verification, chain: r.chain.map(decodedView) } };
    },
  },
  {
    method: 'GET', url: '/api/v1/ca', operationId: 'describeCa', summary: 'The CA hierarchy in use (root, issuing CA, profile signer, OCSP responder) and the newest CRL', roles: READERS,
    handler: async ({ deps, ocsp }) => {
      const ca = await describeCa(deps);
      const check = ocsp ? await ocsp.selfCheck() : null;
      return {
        body: {
          certificates: [
            caCertificateView('root', ca.root),
            caCertificateView('issuing CA', ca.intermediate),
            ...(ca.profileSigner ? [caCertificateView('profile signer', ca.profileSigner)] : []),
            caCertificateView('OCSP responder', ca.ocspResponder),
          ],
          crl: ca.crl ? { number: ca.crl.crlNumber, thisUpdate: ca.crl.thisUpdate.toISOString(), nextUpdate: ca.crl.nextUpdate.toISOString(), url: ca.crlUrl } : null,
          ocsp: {
            url: ca.ocspUrl,
            // The service asked its own responder just now (null when the responder is not running).
            selfCheck: check ? { status: check.status, detail: check.detail, producedAt: check.producedAt?.toISOString() ?? null, preSignedAnswers: check.preSignedAnswers } : null,
          },
        },
      };
    },
  },
];
