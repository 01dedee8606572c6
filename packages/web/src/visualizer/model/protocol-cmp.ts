/**
 * CMP (RFC 4210, the RFC 9483 lightweight profile) as Provisio serves it to `openssl cmp`
 * (docs/protocols.md "CMP"; server protocols/cmp-server.ts): an `ir` MAC-protected with a
 * one-time token (reference and secret), the `ip` with the certificate, and `certConf`, which
 * confirms the install, answered `pkiConf`.
 */
import { ON_DEVICE, SERVER_TLS } from './channels.js';
import { TOKEN_STEPS } from './protocol-est.js';
import { IN_SERVICE } from './provisio-pairing.js';
import { tokenPsk } from './token-psk.js';
import type { Flow } from './types.js';

const CMP = 'openssl cmp -server pki.hospital.example:8443 -path .well-known/cmp -tls_used -tls_trusted root.crt -trusted root.crt -untrusted issuing.crt -recipient /CN=Provisio';
const IR = `${CMP} -cmd ir -ref "$REF" -secret "pass:$SECRET" -newkey device.key -subject /CN=DEV-001 -certout device.pem`;

export const protocolCmp: Flow = {
  id: 'protocol-cmp',
  name: 'CMP (RFC 4210) with a one-time token',
  kind: 'provisio',
  summary: 'An unmodified CMP client (openssl cmp) sends an ir MAC-protected with a one-time token\'s reference and secret to /.well-known/cmp, gets an ip with its certificate signed by the service, and confirms with certConf, answered pkiConf.',
  bestFor: 'Fleets and industrial devices that already speak CMP (the lightweight profile).',
  zones: tokenPsk.zones,
  actors: [
    tokenPsk.actors[0] as Flow['actors'][number],
    { id: 'service', name: 'Provisio service', zone: 'datacentre', description: 'Serves /.well-known/cmp on its HTTPS listener once CMP is enabled for the component; signs its answers with the profile signer.' },
    { id: 'device', name: 'Device', zone: 'field', description: 'Runs openssl cmp.' },
  ],
  steps: [
    ...TOKEN_STEPS,
    {
      id: 'keygen', from: 'device', to: 'device', title: 'Key made',
      sentence: 'The client makes its key; openssl cmp puts it in the certificate template with a signature proof of possession.',
      why: 'Before the ir, so the key never leaves the device.',
      channel: ON_DEVICE,
      command: 'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out device.key',
      carries: [{ name: 'key', example: 'P-256' }],
      stateChange: 'The key on the device.',
      threats: ['A weak random source makes a guessable key.'],
      mitigations: ['openssl\'s generator; the component\'s key policy refuses weak key types.'],
      residualRisk: 'The key is a file protected by file permissions.',
      verifies: [],
      standards: [{ id: 'RFC 4211', level: 'uses', claim: 'The CertReqMsg\'s template and signature proof of possession (§4.1).' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'ir', from: 'device', to: 'service', title: 'POST /.well-known/cmp (ir)',
      sentence: 'The client sends an initialization request: CN=DEV-001 and the key, MAC-protected with the token\'s id as senderKID and the SHA-256 of its secret; the service checks the MAC, spends the token (token.use) and stores the request marked cmp (request.submit).',
      why: 'The MAC authenticates this one enrollment; transactionID and senderNonce are remembered, so a replay is refused transactionIdInUse.',
      channel: SERVER_TLS,
      command: IR,
      carries: [
        { name: 'senderKID', example: '<16 hex id>', note: 'the token\'s id (-ref)' },
        { name: 'protection', example: 'PBMAC, OWF SHA-256, HMAC-SHA256', note: 'keyed with the SHA-256 of the secret (-secret)' },
        { name: 'Content-Type', example: 'application/pkixcmp' },
      ],
      stateChange: 'A use spent; a request and a pending device stored.',
      threats: ['A wrong MAC or a replayed transaction.', 'A template naming another device.'],
      mitigations: ['error badMessageCheck, transactionIdInUse, badCertTemplate, notAuthorized (CMP off); nothing written.'],
      residualRisk: 'Whoever holds the token before the device can enroll as that device id.',
      verifies: [{ by: 'service', checks: 'the MAC, the proof of possession, names and key policy', anchor: 'the token\'s stored SHA-256 and the component\'s template' }],
      standards: [{ id: 'RFC 4210', level: 'implements', claim: '§5.3.1 initialization request with password-based MAC protection.' }, { id: 'RFC 9483', level: 'implements', claim: '§4.1.1 enrolling an end entity to a new PKI, MAC-based protection.' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'approve', from: 'service', to: 'service', title: 'Approved and issued',
      sentence: 'The request is approved by the approval policy, an approver, or the token when the system says so, and the certificate issued (request.approve or request.auto_approve).',
      why: 'The same approval as every way in; while an approver decides the ip says waiting and the client polls (pollReq, pollRep with checkAfter 3 s).',
      channel: IN_SERVICE,
      carries: [{ name: 'serial', example: '3A71…' }],
      stateChange: 'Certificate issued; the device Approved.',
      threats: ['The token as the approval lets whoever holds it be certified without a person deciding.'],
      mitigations: ['Off unless the system turns it on.'],
      residualRisk: 'With the token as the approval, the token\'s custody is the control.',
      verifies: [],
      standards: [{ id: 'RFC 9483', level: 'implements', claim: '§4.4 polling while the request is pending.' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'ip', from: 'service', to: 'device', title: 'ip (certificate)',
      sentence: 'The initialization response carries the certificate, MAC-protected with the same secret, with the signer\'s certificate and the issuing CA in extraCerts.',
      why: 'The client checks the answer and the certificate\'s chain before writing device.pem.',
      channel: SERVER_TLS,
      command: IR,
      carries: [{ name: 'certifiedKeyPair', example: 'CN=DEV-001' }, { name: 'extraCerts', example: 'Provisio profile signer, issuing CA' }],
      stateChange: 'The device holds its certificate.',
      threats: ['A forged answer.'],
      mitigations: ['The MAC with the shared secret; the certificate chains to the root (-trusted).'],
      residualRisk: 'Low.',
      verifies: [{ by: 'device', checks: 'the answer\'s protection and the certificate chain', anchor: 'root.crt (-trusted)' }],
      standards: [{ id: 'RFC 4210', level: 'implements', claim: '§5.3.2 initialization response.' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'certconf', from: 'device', to: 'service', title: 'certConf → pkiConf',
      sentence: 'The client confirms it accepted the certificate; the service marks the device Provisioned (device.confirm) and answers pkiConf.',
      why: 'Last: the certConf must echo the nonce the service sent, in the same transaction.',
      channel: SERVER_TLS,
      command: IR,
      carries: [{ name: 'certHash', example: 'SHA-256 of the certificate' }],
      stateChange: 'Device Provisioned.',
      threats: ['A certConf for another transaction.'],
      mitigations: ['badRecipientNonce for an unknown transaction or nonce.'],
      residualRisk: 'Low.',
      verifies: [{ by: 'service', checks: 'the MAC and the recipient nonce', anchor: 'the transaction remembered in cmp_transactions' }],
      standards: [{ id: 'RFC 4210', level: 'implements', claim: '§5.3.18 certificate confirmation, answered pkiConf.' }],
      duration: { seconds: 1, humanWait: false },
    },
  ],
};
