/**
 * SCEP (RFC 8894) as Provisio serves it to strongSwan's `pki --scep` (docs/protocols.md "SCEP";
 * server http/scep-routes.ts): GetCACert for the RA certificate and chain, then a PKIOperation
 * PKCSReq whose challenge password is a one-time token, answered CertRep. SCEP has no
 * confirmation: the device stays Approved until its certificate's first use over mutual TLS.
 */
import { ON_DEVICE } from './channels.js';
import { TOKEN_STEPS } from './protocol-est.js';
import { IN_SERVICE } from './provisio-pairing.js';
import { tokenPsk } from './token-psk.js';
import type { Channel, Flow } from './types.js';

const URL = 'http://pki.hospital.example:8080/scep';
const PLAIN_HTTP: Channel = { kind: 'tls', secure: false, label: 'plain HTTP' };
const PKI_MESSAGE: Channel = { kind: 'tls', secure: true, label: 'plain HTTP, pkiMessage signed and encrypted to the RA' };
const ENROLL = `pki --scep --url ${URL} --in device.key --dn "CN=DEV-001" --password "$TOKEN" --cacert-enc ra.pem --cacert-sig ra.pem --cacert ca-1.pem --cacert ca.pem --outform pem > device.pem`;

export const protocolScep: Flow = {
  id: 'protocol-scep',
  name: 'SCEP (RFC 8894) with a one-time token',
  kind: 'provisio',
  summary: 'An unmodified SCEP client (strongSwan pki) fetches the RA certificate and chain, sends a PKCSReq to /scep?operation=PKIOperation with a one-time token as the challenge password, and gets a CertRep with its certificate.',
  bestFor: 'Devices and MDM agents that speak only SCEP.',
  zones: tokenPsk.zones,
  actors: [
    tokenPsk.actors[0] as Flow['actors'][number],
    { id: 'service', name: 'Provisio service', zone: 'datacentre', description: 'Serves /scep once SCEP is enabled for the component; its RA certificate (scep-ra) signs and decrypts.' },
    { id: 'device', name: 'Device', zone: 'field', description: 'Runs strongSwan\'s pki --scep.' },
  ],
  steps: [
    ...TOKEN_STEPS,
    {
      id: 'getcacert', from: 'device', to: 'service', title: 'GET /scep?operation=GetCACert',
      sentence: 'The client fetches the RA certificate, the issuing CA and the root (application/x-x509-ca-ra-cert).',
      why: 'It needs the RA certificate to encrypt its request and check the answer.',
      channel: PLAIN_HTTP,
      command: `pki --scepca --url ${URL} --caout ca.pem --raout ra.pem`,
      carries: [{ name: 'Content-Type', example: 'application/x-x509-ca-ra-cert' }],
      stateChange: null,
      threats: ['A substituted RA certificate on the way (plain HTTP).'],
      mitigations: ['The client checks the chain against the root\'s fingerprint given out of band; the RA certificate is issued under the root.'],
      residualRisk: 'A client that accepts the fetched root unchecked trusts whoever answered.',
      verifies: [{ by: 'device', checks: 'the CA certificates\' fingerprints', anchor: 'the root fingerprint given out of band' }],
      standards: [{ id: 'RFC 8894', level: 'implements', claim: '§4.2 Get CA certificate.' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'keygen', from: 'device', to: 'device', title: 'Key made',
      sentence: 'The device makes its key; pki --scep builds the CSR with the token as its challenge password.',
      why: 'Before the request, so the key never leaves the device.',
      channel: ON_DEVICE,
      command: 'pki --gen --type rsa --size 3072 --outform pem > device.key',
      carries: [{ name: 'key', example: 'RSA-3072' }],
      stateChange: 'The key on the device.',
      threats: ['A weak random source makes a guessable key.'],
      mitigations: ['The client\'s own generator; the component\'s key policy refuses weak key types.'],
      residualRisk: 'The key is a file protected by file permissions.',
      verifies: [],
      standards: [{ id: 'RFC 2986', level: 'uses', claim: 'A PKCS#10 CertificationRequest with a challengePassword attribute.' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'pkcsreq', from: 'device', to: 'service', title: 'POST /scep?operation=PKIOperation (PKCSReq)',
      sentence: 'The client sends the CSR enveloped to the RA (AES) and signed with a self-signed certificate for its key; the service checks the challenge, spends the token (token.use) and stores the request marked scep (request.submit).',
      why: 'The challenge password authenticates this one enrollment; the envelope keeps it from the plain-HTTP channel.',
      channel: PKI_MESSAGE,
      command: ENROLL,
      carries: [
        { name: 'messageType', example: '19 (PKCSReq)' },
        { name: 'challengePassword', example: 'pvt_<id>_****', note: 'masked here, encrypted to the RA' },
        { name: 'transactionID', example: 'SHA-256 of the public key' },
      ],
      stateChange: 'A use spent; a request and a pending device stored.',
      threats: ['A wrong challenge.', 'Legacy algorithms (DES, MD5, SHA-1).'],
      mitigations: ['CertRep FAILURE badRequest for a wrong challenge or SCEP off, badAlg for legacy algorithms, badMessageCheck for a malformed message; nothing written.'],
      residualRisk: 'Whoever holds the token before the device can enroll as that device id.',
      verifies: [{ by: 'service', checks: 'the signature, the challenge, the CSR\'s names and key policy', anchor: 'the token\'s stored SHA-256 and the component\'s template' }],
      standards: [{ id: 'RFC 8894', level: 'implements', claim: '§3.3.1 PKCSReq, authenticated by the challenge password (§2.2).' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'approve', from: 'service', to: 'service', title: 'Approved and issued',
      sentence: 'The request is approved by the approval policy, an approver, or the token when the system says so, and the certificate issued (request.approve or request.auto_approve).',
      why: 'The same approval as every way in (GetCertInitial polling while an approver decides is not built).',
      channel: IN_SERVICE,
      carries: [{ name: 'serial', example: '3A71…' }],
      stateChange: 'Certificate issued; the device Approved.',
      threats: ['The token as the approval lets whoever holds it be certified without a person deciding.'],
      mitigations: ['Off unless the system turns it on.'],
      residualRisk: 'With the token as the approval, the token\'s custody is the control.',
      verifies: [],
      standards: [{ id: 'RFC 5280', level: 'implements', claim: 'The device certificate from the component\'s template.' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'certrep', from: 'service', to: 'device', title: 'CertRep (SUCCESS)',
      sentence: 'The answer: a CertRep signed by the RA, the certificate enveloped to the device\'s key; the client writes device.pem.',
      why: 'The certificate is the device\'s identity from now on; the device stays Approved until its first use over mutual TLS.',
      channel: PKI_MESSAGE,
      command: ENROLL,
      carries: [{ name: 'pkiStatus', example: '0 (SUCCESS)' }, { name: 'messageType', example: '3 (CertRep)' }],
      stateChange: 'The device holds its certificate.',
      threats: [],
      mitigations: [],
      residualRisk: 'Low.',
      verifies: [{ by: 'device', checks: 'the RA\'s signature and the certificate chain', anchor: 'ca.pem (the root)' }],
      standards: [{ id: 'RFC 8894', level: 'implements', claim: '§3.3.2 CertRep.' }],
      duration: { seconds: 1, humanWait: false },
    },
  ],
};
