/**
 * Provisio's pairing-code flow, the hospital workflow of seed 003 (DOC-PROC-011), as the code
 * does it: `provisio pairing create` (domain/pairing-codes.ts), `provisio device pair` (the device
 * SDK's pair-device.ts), the signed provisioning payload (protocol/pairing-payload.ts), the
 * mutual-TLS confirmation and check-in, and the device's own security_audit_log. The device's
 * steps before and after the approval are shared with the QR onboarding flow (qr-app.ts), whose
 * approval is the technician's confirmation on the Onboard page.
 */
import { MUTUAL_TLS, ON_DEVICE, SERVER_TLS } from './channels.js';
import type { Channel, Method, Step } from './types.js';

/** The CLI's calls with an administrator's API token. */
export const ADMIN_API: Channel = { kind: 'tls', secure: true, label: 'HTTPS, administrator\'s API token' };
/** What the service does inside itself, in one transaction. */
export const IN_SERVICE: Channel = { kind: 'local', secure: true, label: 'inside the service' };

const PAIR = 'provisio device pair --url https://pki.hospital.example:8443 --ca root.crt --id DEV-001 --code ABCD-2345 --dir /var/lib/provisio';

/** The device asks: its first call, its key and CSR, the pair call that spends the code (shared with the QR flow). */
export const DEVICE_ASKS_STEPS: readonly Step[] = [
  {
    id: 'hello', from: 'device', to: 'service', title: 'POST /api/v1/device/pairing/hello',
    sentence: 'The device, booting without a certificate, asks for provisioning with its deviceId and pairing code; the service checks the record and the code and says what the CSR should name.',
    why: 'First: the device learns its system, component, label and allowed key types before it makes a key, and a wrong code stops it before any work. The code is checked, not spent.',
    channel: SERVER_TLS,
    command: PAIR,
    carries: [
      { name: 'deviceId', example: 'DEV-001' },
      { name: 'code', example: 'ABCD-****', note: 'the pairing code; masked here, sent in full' },
      { name: 'answer', example: '{"system":"ZMonitor","component":"bedside monitor","deviceLabel":"Bed 12","keyTypes":["p256"]}' },
    ],
    stateChange: null,
    threats: ['Guessing codes online.', 'Telling a wrong code from an unknown device or a locked record.', 'A fake service collecting codes.'],
    mitigations: ['40-bit codes; wrong codes counted per device in the database, the record locked at 5 until an administrator resets it (pairing.lock).', 'One answer (pairing_code_invalid), the same work (scrypt against a dummy hash) and the same minimum time for all three.', 'TLS trusting only the root given with --ca.'],
    residualRisk: 'Five guesses per record before the lock: a 5 in 2^40 chance.',
    verifies: [
      { by: 'device', checks: 'the service\'s TLS certificate', anchor: 'the root given with --ca' },
      { by: 'service', checks: 'the device record exists, is open and the code matches its scrypt hash', anchor: 'the pairing record an administrator created' },
    ],
    standards: [
      { id: 'RFC 8446', level: 'uses', claim: 'TLS 1.3, the server authenticated by its certificate chained to the root the device holds.' },
      { id: 'ETSI EN 303 645', level: 'supports', claim: 'Provision 5.1-1: no universal default password: each pairing code is unique to one device, random and single-use.' },
    ],
    duration: { seconds: 1, humanWait: false },
  },
  {
    id: 'keygen', from: 'device', to: 'device', title: 'Key + CSR made',
    sentence: 'The device generates its key (P-256 by default, --key rsa3072) and a CSR with the seed\'s profile: CN the deviceId, OU the system, SAN the deviceId and label, key usage digitalSignature, EKU clientAuth.',
    why: 'Made after hello, which told it the names the certificate will carry, and before pairing, so the key never leaves the device: the service gets a CSR.',
    channel: ON_DEVICE,
    command: PAIR,
    carries: [
      { name: 'subject', example: 'CN=DEV-001, OU=ZMonitor' },
      { name: 'subjectAltName', example: 'DirName: CN=DEV-001, description=Bed 12' },
      { name: 'keyUsage / extKeyUsage', example: 'digitalSignature / clientAuth' },
    ],
    stateChange: 'The key and CSR in memory only: nothing is written until the answer verifies.',
    threats: ['A weak random source makes a guessable key.'],
    mitigations: ['Keys come from the platform CSPRNG (node:crypto).'],
    residualRisk: 'The key becomes a file protected by file permissions, not a secure element.',
    verifies: [],
    standards: [{ id: 'RFC 2986', level: 'implements', claim: 'A PKCS#10 CertificationRequest signed by the new key (proof of possession).' }],
    duration: { seconds: 1, humanWait: false },
  },
  {
    id: 'pair', from: 'device', to: 'service', title: 'POST /api/v1/device/pairing/pair',
    sentence: 'The device sends its deviceId, the code and the CSR; the service checks the code again, spends it (pairing.use), checks the CSR\'s names against the record and the key policy, and records the request (request.submit).',
    why: 'The code is spent only with a CSR whose signature verifies, in the same transaction as the request: a refusal anywhere leaves the code unspent and the database unchanged.',
    channel: SERVER_TLS,
    command: PAIR,
    carries: [
      { name: 'deviceId', example: 'DEV-001' },
      { name: 'code', example: 'ABCD-****', note: 'masked here, sent in full' },
      { name: 'csr', example: 'MIIBXzCCAQUCAQAw…', note: 'base64 DER, below' },
      { name: 'signature', example: 'asymmetric', note: 'or hmac for a device that can only check an HMAC' },
    ],
    stateChange: 'The code spent (single use); a request and a pending device record stored.',
    threats: ['A code read off the ward used on another device.', 'A replayed pairing.'],
    mitigations: ['The code is bound to its deviceId and expires (72 h by default).', 'Single use: the same code with the same CSR answers the same request again; with another CSR it is refused.'],
    residualRisk: 'Whoever holds the code and the device id before the device pairs can pair in its place; the audit log and the Devices page show it.',
    verifies: [{ by: 'service', checks: 'the CSR\'s signature (proof of possession), names and key type; the key policy (one key, one identity)', anchor: 'the pairing record and the component\'s template' }],
    standards: [{ id: 'RFC 2986', level: 'uses', claim: 'The CSR\'s signature is verified before the code is spent.' }],
    duration: { seconds: 1, humanWait: false },
  },
];

/** The decision inside the service (the QR flow has its own: the confirmation on the Onboard page). */
export const PAIRING_APPROVAL_STEP: Step = {
  id: 'approve', from: 'service', to: 'service', title: 'Approved and issued',
  sentence: 'The request is approved — by the code itself when the system says so (enrollmentSecretApproves), else by the component\'s approval policy or an approver (on the Devices page, or on the Onboard page in the QR flow) — and the issuing CA signs the certificate (request.approve or request.auto_approve).',
  why: 'Approval policy applies as for any method; with an approver the device asks again with the same code and CSR until the decision (202, then 201).',
  channel: IN_SERVICE,
  carries: [
    { name: 'serial', example: '5F0A…', note: 'the certificate\'s, below' },
    { name: 'rule', example: 'enrollment-secret' },
  ],
  stateChange: 'Certificate issued; the device Approved.',
  threats: ['The code as the approval lets whoever holds it be certified without a person deciding.'],
  mitigations: ['Off unless the system turns it on; otherwise an approver or an automatic policy with a device id pattern decides.'],
  residualRisk: 'With the code as the approval, the code\'s custody is the control.',
  verifies: [],
  standards: [{ id: 'RFC 5280', level: 'implements', claim: 'The device certificate: subject, SAN, key usage and EKU from the component\'s template, not from the CSR.' }],
  duration: { seconds: 1, humanWait: false },
};

/** From the signed answer to the device's own audit log, once the request is approved (shared with the QR flow). */
export const DEVICE_INSTALLS_STEPS: readonly Step[] = [
  {
    id: 'payload', from: 'service', to: 'device', title: 'Signed provisioning payload',
    sentence: 'The service answers 201 with the seed\'s signed provisioning payload — deviceId, pairingCode (masked), serverUrl, clientCertificate, caCertificate, issuedAt, expiresAt, signature — and the certified profile.',
    why: 'The answer of the same call that spent the code; the signature is a detached JWS over the payload\'s canonical JSON (RFC 8785), by the profile signer, so a device verifies it with the root alone and holds nothing that could forge another device\'s payload.',
    channel: SERVER_TLS,
    command: PAIR,
    carries: [
      { name: 'pairingCode', example: 'ABCD-****', note: 'echoed masked: the device knows its code; an answer that leaks it would let a recorded payload pair again before it is spent' },
      { name: 'expiresAt', example: 'issuedAt + 15 minutes' },
      { name: 'signature', example: 'eyJhbGciOiJFUzI1NiIs…..MEUCIQ…', note: 'detached JWS: x5c = profile signer, issuing CA' },
    ],
    stateChange: null,
    threats: ['A payload changed on the way, for another device, or replayed later.'],
    mitigations: ['Signed by the profile signer (HMAC under a key derived from the code for HMAC-only devices); a 15-minute window; the deviceId inside.'],
    residualRisk: 'Low: the TLS and the signature both protect it.',
    verifies: [],
    standards: [{ id: 'RFC 7515', level: 'uses', claim: 'The signature is a JWS with a detached payload (Appendix F), ES256 with an x5c chain.' }],
    duration: { seconds: 1, humanWait: false },
  },
  {
    id: 'verify', from: 'device', to: 'device', title: 'Signature, window, identity',
    sentence: 'The device checks the payload\'s signature (the profile signer chained to its root, or the HMAC), its window (issuedAt ≤ now < expiresAt) and identity (its deviceId, the certificate\'s CN, its own key), and the certified profile — before it writes anything.',
    why: 'Only a verified answer may touch the keystore: a payload with one byte changed, expired or for another device is refused with the directory as it was.',
    channel: ON_DEVICE,
    command: PAIR,
    carries: [],
    stateChange: null,
    threats: ['Installing an answer the service did not sign.'],
    mitigations: ['Every check runs in memory first; refused codes pp_signature_invalid, pp_expired, pp_wrong_device.'],
    residualRisk: 'A device clock far off refuses a good payload (5 minutes of skew are allowed on issuedAt).',
    verifies: [
      { by: 'device', checks: 'the payload\'s JWS signature (x5c chain) and the certified profile', anchor: 'the root given with --ca' },
      { by: 'device', checks: 'window and identity: deviceId, the certificate\'s CN, the certified key is its own', anchor: 'the key and id it holds' },
    ],
    standards: [{ id: 'RFC 5280', level: 'implements', claim: 'Path validation of the signer\'s chain to the root the device holds.' }],
    duration: { seconds: 1, humanWait: false },
  },
  {
    id: 'install', from: 'device', to: 'device', title: 'Files 0600, config',
    sentence: 'The device writes device.key, root.crt, identity.json, certificate.pem, profile.pcp and install.json, each 0600 and replaced atomically, and config.json with serverUrl and the certificate paths.',
    why: 'Only after every check passed; atomic replacement means a power cut leaves either the old files or the new ones.',
    channel: ON_DEVICE,
    command: PAIR,
    carries: [
      { name: 'config.json', example: '{"format":"provisio.device-config","v":1,"serverUrl":"https://pki.hospital.example:8443","certificate":"/var/lib/provisio/certificate.pem","key":"/var/lib/provisio/device.key",…}' },
    ],
    stateChange: 'Keystore installed (0600); configuration updated.',
    threats: ['Another local user reads the key.'],
    mitigations: ['Files 0600 in a 0700 directory, checked before writing.'],
    residualRisk: 'Root on the device can read the key.',
    verifies: [],
    standards: [{ id: 'ETSI EN 303 645', level: 'supports', claim: 'Provision 5.4-1: sensitive security parameters in persistent storage are stored with restrictive permissions.' }],
    duration: { seconds: 1, humanWait: false },
  },
  {
    id: 'confirm', from: 'device', to: 'service', title: 'POST /api/v1/device/confirm',
    sentence: 'The device confirms the install over mutual TLS with its new certificate and a signed proof; the service marks it Provisioned (device.confirm).',
    why: 'Last call to the service: only a device holding the certified key can open this connection, so Provisioned rests on the device, not on a person\'s word.',
    channel: MUTUAL_TLS,
    command: PAIR,
    carries: [{ name: 'client certificate', example: 'CN=DEV-001, OU=ZMonitor', note: 'below' }],
    stateChange: 'Device Provisioned.',
    threats: [],
    mitigations: [],
    residualRisk: 'Low.',
    verifies: [{ by: 'service', checks: 'the client certificate chain and the install proof', anchor: 'the issuing CA' }],
    standards: [{ id: 'RFC 8446', level: 'uses', claim: 'TLS 1.3 client authentication with the new certificate.' }],
    duration: { seconds: 1, humanWait: false },
  },
  {
    id: 'check-in', from: 'device', to: 'station', title: 'POST /api/v1/check-in',
    sentence: 'The device tests its new identity: a mutual-TLS check-in at the central station, which checks the certificate\'s revocation status (OCSP, or the CRL).',
    why: 'The seed\'s last network step: proof that the installed files work where the device will report from.',
    channel: MUTUAL_TLS,
    command: 'provisio device check-in --dir /var/lib/provisio --station https://station.hospital.example:9443 (or --station on device pair)',
    carries: [{ name: 'status', example: '{"status":"ok","uptimeSeconds":5}' }],
    stateChange: 'The device\'s last seen time set.',
    threats: [],
    mitigations: [],
    residualRisk: 'Low.',
    verifies: [{ by: 'station', checks: 'the client certificate chain and its status', anchor: 'the issuing CA and its OCSP responder' }],
    standards: [{ id: 'RFC 6960', level: 'uses', claim: 'The station asks the OCSP responder for the certificate\'s status.' }],
    duration: { seconds: 1, humanWait: false },
  },
  {
    id: 'audit-log', from: 'device', to: 'device', title: 'security_audit_log',
    sentence: 'The device records the verification and the install outcome in its own hash-chained security_audit_log (security_audit_log.jsonl in the keystore).',
    why: 'Written at each step as it happens; shown last because it is what stays on the device as evidence of how it was provisioned.',
    channel: ON_DEVICE,
    command: 'provisio device audit --dir /var/lib/provisio --verify',
    carries: [{ name: 'entry', example: '{"seq":2,"event":"install.completed","details":{…},"prevHash":"…","hash":"…"}' }],
    stateChange: 'The device\'s audit log holds the provisioning.',
    threats: ['An edited or truncated log.'],
    mitigations: ['Each entry chains the previous one\'s SHA-256; security_audit_head.json holds the last, so --verify finds an edit and a cut.'],
    residualRisk: 'Root on the device can rewrite the whole chain; it is evidence, not proof against the device\'s owner.',
    verifies: [],
    standards: [{ id: 'IEC 62443-4-2', level: 'supports', claim: 'CR 2.8 (auditable events): security events recorded on the component.' }],
    duration: { seconds: 1, humanWait: false },
  },
];

/** Everything from the device's first call to its own audit log: the pairing code's flow once the device holds its id and code. */
export const DEVICE_PAIRING_STEPS: readonly Step[] = [...DEVICE_ASKS_STEPS, PAIRING_APPROVAL_STEP, ...DEVICE_INSTALLS_STEPS];

export const provisioPairing: Method = {
  id: 'provisio-pairing',
  name: 'Provisio: pairing code',
  kind: 'provisio',
  summary: 'A PKI admin pre-registers the device with a one-time pairing code; the device, booting without a certificate, pairs with its deviceId, the code and a CSR, verifies the signed provisioning payload, installs its files 0600 and checks in over mutual TLS (seed 003\'s hospital workflow).',
  bestFor: 'Devices installed by a technician who can type or load a short code, with no provisioning package on the device.',
  zones: [
    { id: 'operator', name: 'PKI administration', description: 'The PKI admin with an API token (the CLI or the System page).' },
    { id: 'datacentre', name: 'Data centre', description: 'The provisioning service and its central station.' },
    { id: 'ward', name: 'Ward', description: 'The device at its bedside, and the technician installing it.' },
  ],
  actors: [
    { id: 'admin', name: 'PKI admin', zone: 'operator', description: 'Pre-registers devices with pairing codes.' },
    { id: 'service', name: 'Provisio service', zone: 'datacentre', description: 'Checks records and codes, issues certificates, signs payloads, keeps the audit log.' },
    { id: 'station', name: 'Central station', zone: 'datacentre', description: 'Where provisioned devices check in over mutual TLS.' },
    { id: 'device', name: 'Device', zone: 'ward', description: 'Runs `provisio device pair` (the device SDK\'s pairDevice).' },
  ],
  steps: [
    {
      id: 'register', from: 'admin', to: 'service', title: 'POST /api/v1/pairings',
      sentence: 'The PKI admin pre-registers the device — system, component, deviceId, label — and the service answers a pairing code, printed once and kept only as a scrypt hash (pairing.create).',
      why: 'The record must exist before the device asks: it is what the device\'s code is checked against and what its certificate will name.',
      channel: ADMIN_API,
      command: 'provisio pairing create --system ZMonitor --component "bedside monitor" --id DEV-001 --label "Bed 12" --expires 72h',
      carries: [
        { name: 'deviceId', example: 'DEV-001' },
        { name: 'deviceLabel', example: 'Bed 12' },
        { name: 'code', example: 'ABCD-****', note: '8 characters without look-alikes from the CSPRNG: 40 bits; shown once' },
        { name: 'expiresAt', example: 'now + 72 h' },
      ],
      stateChange: 'A pairing record (open) with the code\'s scrypt hash.',
      threats: ['A stolen database used to search the codes offline.'],
      mitigations: ['scrypt (N=2^15, r=8) with its own salt: each guess costs ~32 MiB and tens of milliseconds.'],
      residualRisk: 'The code exists in clear on the admin\'s screen until it is handed over.',
      verifies: [],
      standards: [{ id: 'NIST IR 8259', level: 'supports', claim: 'Device identification (IR 8259A): each device has its own identifier and record before it is provisioned.' }],
      duration: { seconds: 30, humanWait: true },
    },
    {
      id: 'hand-over', from: 'admin', to: 'device', title: 'Code handed over',
      sentence: 'The code reaches the device: a technician types it in at the bedside, or loads it with the device\'s setup.',
      why: 'The device must hold its id and code before it can ask; the code travels outside the network, with a person.',
      channel: { kind: 'human', secure: false, label: 'a person: printed or read out' },
      carries: [{ name: 'code', example: 'ABCD-****' }],
      stateChange: null,
      threats: ['The code is seen, photographed or left on a note.'],
      mitigations: ['Single use, bound to one deviceId, expires; wrong codes lock the record after 5.', 'Revoke it (provisio pairing revoke) if it may have leaked.'],
      residualRisk: 'Whoever has the code and the device id before the device pairs can pair in its place.',
      verifies: [],
      standards: [],
      duration: { seconds: 120, humanWait: true },
    },
    ...DEVICE_PAIRING_STEPS,
  ],
  assessment: {
    complexity: { score: 2, reason: 'No package on the device: a short code per device and one CLI command on it; the service does the rest.' },
    security: { score: 4, reason: 'The key stays on the device, the answer is signed and checked before anything is written, and the install is proven over mutual TLS; the code is a short-lived, single-use, locking secret in a person\'s hands.' },
    friction: { score: 3, reason: 'An admin registers each device and a technician enters its code.' },
    scalability: { score: 3, reason: 'One record and one code per device: fine for wards and sites, work for tens of thousands.' },
  },
};
