/**
 * SCEP (RFC 8894) at /scep and /cgi-bin/pkiclient.exe (the path older clients hard-code;
 * docs/protocols.md). A plugin of its own, outside the JSON API: GetCACaps answers text,
 * GetCACert the RA and issuing CA certificates, and PKIOperation a CertRep whatever arrives:
 * a refusal is pkiStatus FAILURE with a failInfo, signed by the RA, and stores nothing.
 *
 * PKCSReq enrolls with a one-time enrollment token as the CSR's challengePassword (the same
 * token method EST and CMP use); RenewalReq is signed with the device's current certificate
 * and goes through the same renewal. A request an approver has not decided answers PENDING;
 * the client then polls with CertPoll (GetCertInitial), naming it by its key (the signer
 * certificate's) and the subject's CN, or sends the same PKCSReq again, and gets the decision
 * (D47).
 */
import { X509Certificate } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isProvisioError, parseAndVerifyCsr, parseCertificate } from '@provisio/pki';
import type { ScepRa, ServiceDeps } from '../domain/deps.js';
import { ServiceError } from '../domain/errors.js';
import { enrollOverProtocol, pollProtocolEnrollment } from '../domain/protocol-enrollment.js';
import { authenticateReenrollingDevice, checkCsrNames, renewOverProtocol } from '../domain/protocol-renewal.js';
import { encodeCertsOnly } from '../protocols/est-wire.js';
import { type FailInfo, MAX_SCEP_MESSAGE_BYTES, MESSAGE_TYPE, challengePassword, encodeCertRep, parseScepRequest, pollSubjectCommonName, readScepHeader, type ScepHeader, type ScepRequest } from '../protocols/scep-message.js';

export const SCEP_PATHS = ['/scep', '/scep/', '/cgi-bin/pkiclient.exe'] as const;

/**
 * RFC 8894 §3.5.2: what this RA takes. SCEPStandard implies AES, SHA-256 and POSTPKIOperation.
 * SHA-384 is listed too (it is taken) and is needed: strongSwan 5.9.8's `pki --scep` tests the
 * parsed capability bits against capability indexes, so it reads "SHA-256" and "AES" as the bit
 * of SHA-384 and refuses its default SHA-256 "not supported by CA" without it (docs/protocols.md).
 */
export const SCEP_CA_CAPS = ['AES', 'POSTPKIOperation', 'Renewal', 'SHA-256', 'SHA-384', 'SHA-512', 'SCEPStandard'] as const;

const FAIL_INFO: Readonly<Record<string, FailInfo>> = {
  scep_algorithm_refused: 'badAlg',
  signature_algorithm_unsupported: 'badAlg',
  scep_message_invalid: 'badMessageCheck',
  scep_signature_invalid: 'badMessageCheck',
  der_malformed: 'badMessageCheck',
  client_certificate_unknown: 'badCertId',
  certificate_not_found: 'badCertId',
  scep_request_unknown: 'badCertId',
};

export function registerScepRoutes(app: FastifyInstance, deps: ServiceDeps, log?: (line: string) => void): void {
  const ra = async (): Promise<ScepRa> => {
    if (!deps.authority.scepRa) throw new Error('this authority has no SCEP RA');
    return deps.authority.scepRa();
  };
  const raKeys = async () => {
    const r = await ra();
    return { certificate: r.certificate.der, privateKey: r.privateKey };
  };

  const sendCertRep = (reply: FastifyReply, der: Buffer) => reply.status(200).type('application/x-pki-message').header('cache-control', 'no-store').send(der);

  async function operate(body: Buffer): Promise<Buffer> {
    const keys = await raKeys();
    const header: ScepHeader = readScepHeader(body) ?? { transactionIdTlv: Buffer.from([0x13, 0]), senderNonce: Buffer.alloc(0), signerCertificate: null };
    try {
      const request = parseScepRequest(body, keys);
      const answer = await dispatch(request);
      return encodeCertRep({ request: header, ra: keys, ...answer });
    } catch (e) {
      if (!isProvisioError(e)) log?.(`error scep: ${e instanceof Error ? e.stack : String(e)}`);
      const code = isProvisioError(e) ? e.code : 'internal';
      return encodeCertRep({ request: header, ra: keys, status: 'FAILURE', failInfo: FAIL_INFO[code] ?? 'badRequest' });
    }
  }

  async function dispatch(request: ScepRequest): Promise<{ status: 'SUCCESS' | 'PENDING'; certsOnly?: Buffer }> {
    if (request.messageType === MESSAGE_TYPE.PKCSReq) {
      const csr = parseAndVerifyCsr(request.content);
      sameKey(request.signerCertificate, csr.publicKey.spki);
      const challenge = challengePassword(csr.der);
      if (!challenge) throw new ServiceError('scep_challenge_missing', 'the CSR has no challengePassword; put a one-time enrollment token there ("provisio token create")');
      const outcome = await enrollOverProtocol(deps, { protocol: 'scep', token: challenge, deviceId: null, csr });
      if (outcome.state === 'pending') return { status: 'PENDING' };
      return { status: 'SUCCESS', certsOnly: encodeCertsOnly([outcome.certificate.der]) };
    }
    if (request.messageType === MESSAGE_TYPE.RenewalReq) {
      const csr = parseAndVerifyCsr(request.content);
      const who = await authenticateReenrollingDevice(deps, [request.signerCertificate]);
      checkCsrNames({ subject: csr.subject, csr }, who.device);
      const result = await renewOverProtocol(deps, { protocol: 'scep', who, raw: csr.der, publicKey: csr.publicKey, install: 'now' });
      return { status: 'SUCCESS', certsOnly: encodeCertsOnly([result.certificate.der]) };
    }
    if (request.messageType === MESSAGE_TYPE.CertPoll) {
      // RFC 8894 §3.3.3: signed with the same self-signed certificate as the PKCSReq, so its key
      // names the request; the IssuerAndSubject's subject names the device.
      const deviceId = pollSubjectCommonName(request.content);
      if (!deviceId) throw new ServiceError('scep_message_invalid', 'the CertPoll subject has no CN; poll with the subject of the PKCSReq');
      let publicKey;
      try {
        publicKey = parseCertificate(request.signerCertificate).publicKey;
      } catch {
        throw new ServiceError('scep_message_invalid', 'the signer certificate cannot be read');
      }
      const outcome = await pollProtocolEnrollment(deps, { protocol: 'scep', deviceId, publicKey });
      if (outcome.state === 'pending') return { status: 'PENDING' };
      return { status: 'SUCCESS', certsOnly: encodeCertsOnly([outcome.certificate.der]) };
    }
    throw new ServiceError('scep_message_invalid', `messageType ${JSON.stringify(request.messageType.slice(0, 8))} is not taken here; send PKCSReq (19), RenewalReq (17) or CertPoll (20)`);
  }

  void app.register(async (scep) => {
    scep.removeAllContentTypeParsers();
    scep.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_SCEP_MESSAGE_BYTES }, (_request, body, done) => done(null, body));
    scep.setErrorHandler(async (error, request, reply) => {
      log?.(`error ${request.method} ${request.url.split('?')[0]}: ${error instanceof Error ? error.stack : String(error)}`);
      return sendCertRep(reply, await operate(Buffer.alloc(0)));
    });
    const handle = async (request: FastifyRequest, reply: FastifyReply) => {
      const query = request.query as { operation?: string; message?: string };
      switch (query.operation) {
        case 'GetCACaps':
          return reply.status(200).type('text/plain').send(`${SCEP_CA_CAPS.join('\n')}\n`);
        case 'GetCACert': {
          // RFC 8894 §4.2.1.2: with an RA, a certs-only SignedData of the RA and CA certificates.
          const r = await ra();
          return reply.status(200).type('application/x-x509-ca-ra-cert').send(encodeCertsOnly([r.certificate.der, deps.authority.intermediate.der, deps.authority.root.der]));
        }
        case 'PKIOperation': {
          const body = request.method === 'POST' ? (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)) : Buffer.from(query.message ?? '', 'base64');
          return sendCertRep(reply, await operate(body));
        }
        default:
          return reply.status(400).type('text/plain').send('scep_message_invalid: operation must be GetCACaps, GetCACert or PKIOperation\n');
      }
    };
    for (const url of SCEP_PATHS) {
      scep.get(url, handle);
      scep.post(url, handle);
    }
  });
}

/** RFC 8894 §2.3: the self-signed certificate that signs a PKCSReq certifies the CSR's key. */
function sameKey(certificate: Buffer, spki: Buffer): void {
  let key: Buffer;
  try {
    key = new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'der' });
  } catch {
    throw new ServiceError('scep_message_invalid', 'the signer certificate cannot be read');
  }
  if (!key.equals(spki)) throw new ServiceError('scep_message_invalid', 'the pkiMessage is signed with a key other than the CSR\'s');
}
