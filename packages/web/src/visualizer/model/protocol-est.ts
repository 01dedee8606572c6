/**
 * EST (RFC 7030) as Provisio serves it to an unmodified client (docs/protocols.md "EST";
 * server http/est-routes.ts, domain/protocol-enrollment.ts): a one-time token from
 * `provisio token create` as the HTTP basic password of `simpleenroll`, the token's own
 * enrollment method of the one pipeline, and the install confirmed by the certificate's first use
 * over mutual TLS (`simplereenroll`): EST has no confirmation message.
 */
import { MUTUAL_TLS, ON_DEVICE, SERVER_TLS } from './channels.js';
import { IN_SERVICE } from './provisio-pairing.js';
import { tokenPsk } from './token-psk.js';
import type { Flow, Step } from './types.js';

const URL = 'https://pki.hospital.example:8443';

/** The token is made and handed over as for Provisio's own token flow (its first two steps). */
export const TOKEN_STEPS: readonly Step[] = tokenPsk.steps.slice(0, 2);

export const protocolEst: Flow = {
  id: 'protocol-est',
  name: 'EST (RFC 7030) with a one-time token',
  kind: 'provisio',
  summary: 'An unmodified EST client (strongSwan pki, curl and openssl) fetches the CA certificates, sends its CSR to simpleenroll with a one-time token as the HTTP basic password, and gets its certificate as certs-only PKCS#7; its first re-enrollment over mutual TLS confirms the install.',
  bestFor: 'Fleets whose devices already speak EST: no Provisio agent on the device.',
  zones: tokenPsk.zones,
  actors: [
    tokenPsk.actors[0] as Flow['actors'][number],
    { id: 'service', name: 'Provisio service', zone: 'datacentre', description: 'Serves /.well-known/est/ on its HTTPS listener once EST is enabled for the component.' },
    { id: 'device', name: 'Device', zone: 'field', description: 'Runs an EST client: strongSwan\'s pki --est, or curl and openssl.' },
  ],
  steps: [
    ...TOKEN_STEPS,
    {
      id: 'cacerts', from: 'device', to: 'service', title: 'GET /.well-known/est/cacerts',
      sentence: 'The client fetches the issuing CA and the root as certs-only PKCS#7 (base64, CRLF every 64 characters).',
      why: 'First, so the client holds the chain its certificate will be issued under.',
      channel: SERVER_TLS,
      command: `curl -s --cacert root.crt ${URL}/.well-known/est/cacerts | base64 -d | openssl pkcs7 -inform DER -print_certs > ca.pem`,
      carries: [{ name: 'Content-Type', example: 'application/pkcs7-mime; smime-type=certs-only' }],
      stateChange: null,
      threats: ['A client that trusts whatever cacerts answers.'],
      mitigations: ['The TLS server certificate is checked against the root the client was given (--cacert); cacerts adds the issuing CA, not a new anchor.'],
      residualRisk: 'Low.',
      verifies: [{ by: 'device', checks: 'the service\'s TLS certificate', anchor: 'the root given with --cacert' }],
      standards: [{ id: 'RFC 7030', level: 'implements', claim: '§4.1 Distribution of CA certificates (/cacerts).' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'keygen', from: 'device', to: 'device', title: 'Key + CSR made',
      sentence: 'The client makes its key and a PKCS#10 CSR for CN=DEV-001.',
      why: 'Before the token is sent, so the key never leaves the device.',
      channel: ON_DEVICE,
      command: 'pki --gen --type ecdsa --size 256 --outform pem > device.key && pki --req --type priv --in device.key --dn "CN=DEV-001" --outform pem > device.csr',
      carries: [{ name: 'subject', example: 'CN=DEV-001' }],
      stateChange: 'The key on the device.',
      threats: ['A weak random source makes a guessable key.'],
      mitigations: ['The client\'s own generator; the key policy of the component refuses weak key types.'],
      residualRisk: 'The key is a file protected by file permissions.',
      verifies: [],
      standards: [{ id: 'RFC 2986', level: 'uses', claim: 'A PKCS#10 CertificationRequest signed by the new key.' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'enroll', from: 'device', to: 'service', title: 'POST /.well-known/est/simpleenroll',
      sentence: 'The client sends the base64 CSR with the device id and the token as HTTP basic credentials; the service checks the token, spends it (token.use) and stores the request marked est (request.submit) in one transaction.',
      why: 'The token authenticates this one enrollment; a refusal rolls the transaction back and leaves the token unspent.',
      channel: SERVER_TLS,
      command: `pki --est --url ${URL} --cacert root.crt --userpass "DEV-001:$TOKEN" --in device.csr --outform pem > device.pem`,
      carries: [
        { name: 'Authorization', example: 'Basic DEV-001:pvt_<id>_****', note: 'masked here, sent in full' },
        { name: 'Content-Type', example: 'application/pkcs10' },
        { name: 'csr', example: 'MIIBXzCCAQUCAQAw…', note: 'base64 DER, any whitespace' },
      ],
      stateChange: 'A use spent; a request and a pending device stored.',
      threats: ['A token used for another device id.', 'EST switched off for the component.'],
      mitigations: ['403 for a token bound to another device or a CSR naming one; 403 protocol_not_enabled; 401 for a wrong, spent, expired or revoked token; nothing written.'],
      residualRisk: 'Whoever holds the token before the device can enroll as that device id.',
      verifies: [{ by: 'service', checks: 'the token, the CSR\'s signature, names and key policy', anchor: 'the token\'s stored SHA-256 and the component\'s template' }],
      standards: [{ id: 'RFC 7030', level: 'implements', claim: '§4.2.1 Simple enrollment, the client authenticated by HTTP basic (§3.2.3).' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'approve', from: 'service', to: 'service', title: 'Approved and issued',
      sentence: 'The request is approved by the approval policy, an approver, or the token when the system says so, and the certificate issued (request.approve or request.auto_approve).',
      why: 'The same approval as every way in; while an approver decides, simpleenroll answers 202 with Retry-After: 10 and the client sends the same request again.',
      channel: IN_SERVICE,
      carries: [{ name: 'serial', example: '3A71…' }],
      stateChange: 'Certificate issued; the device Approved.',
      threats: ['The token as the approval lets whoever holds it be certified without a person deciding.'],
      mitigations: ['Off unless the system turns it on.'],
      residualRisk: 'With the token as the approval, the token\'s custody is the control.',
      verifies: [],
      standards: [{ id: 'RFC 7030', level: 'implements', claim: '§4.2.3 a pending request answered 202 with Retry-After.' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'certs', from: 'service', to: 'device', title: 'certs-only PKCS#7',
      sentence: 'The answer to the repeated simpleenroll: the certificate as certs-only PKCS#7, which the client writes to device.pem.',
      why: 'The certificate is the device\'s identity from now on.',
      channel: SERVER_TLS,
      command: `pki --est --url ${URL} --cacert root.crt --userpass "DEV-001:$TOKEN" --in device.csr --outform pem > device.pem`,
      carries: [{ name: 'Content-Type', example: 'application/pkcs7-mime; smime-type=certs-only' }],
      stateChange: 'The device holds its certificate.',
      threats: ['A forged answer.'],
      mitigations: ['Over TLS checked against the root; the certificate chains to it.'],
      residualRisk: 'Low.',
      verifies: [{ by: 'device', checks: 'the service\'s TLS certificate', anchor: 'the root given with --cacert' }],
      standards: [{ id: 'RFC 5280', level: 'implements', claim: 'The device certificate from the component\'s template.' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'first-use', from: 'device', to: 'service', title: 'POST /.well-known/est/simplereenroll',
      sentence: 'The first use of the certificate over mutual TLS (a re-enrollment) confirms the install: the service marks the device Provisioned (device.confirm).',
      why: 'EST has no confirmation message; only the holder of the certified key can open this connection.',
      channel: MUTUAL_TLS,
      command: `pki --est --url ${URL} --cacert root.crt --cert device.pem --key device.key --in new.csr --outform pem > new.pem`,
      carries: [{ name: 'client certificate', example: 'CN=DEV-001' }],
      stateChange: 'Device Provisioned.',
      threats: [],
      mitigations: [],
      residualRisk: 'Until that first use the device stays Approved.',
      verifies: [{ by: 'service', checks: 'the client certificate chain, current and unrevoked', anchor: 'the issuing CA' }],
      standards: [{ id: 'RFC 7030', level: 'implements', claim: '§4.2.2 Simple re-enrollment, authenticated by the current certificate.' }],
      duration: { seconds: 1, humanWait: false },
    },
  ],
};
