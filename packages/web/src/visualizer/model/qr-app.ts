/**
 * Provisio's QR-code onboarding, as the code does it (D46): `provisio pairing create --qr`
 * writes the setup payload the service answered (`provisio-setup:?v=1&url=…&root=sha256:…&id=…&
 * code=…`, docs/formats.md "Setup payload") as a QR code; the device pairs FIRST with the id and
 * code (the pairing flow's device steps, provisio-pairing.ts) and its request waits; then a
 * technician on the web UI's /onboard page scans the label, looks the device up
 * (POST /api/v1/onboard/lookup) and an approver confirms it (POST /api/v1/onboard/confirm):
 * that confirmation is the approval of the device's request (server domain/onboarding.ts).
 */
import { PRINTED_QR, SESSION_TLS } from './channels.js';
import { ADMIN_API, DEVICE_ASKS_STEPS, DEVICE_INSTALLS_STEPS } from './provisio-pairing.js';
import type { Method } from './types.js';

/** The setup payload of the example, the code masked (the real one holds it in clear). */
const SETUP = 'provisio-setup:?v=1&url=https%3A%2F%2Fpki.hospital.example%3A8443&root=sha256:9f86d081…&id=DEV-001&code=ABCD-****';

export const qrApp: Method = {
  id: 'qr-app',
  name: 'Provisio: QR code / onboarding page',
  kind: 'provisio',
  summary: 'A pairing code with the service URL and the root\'s SHA-256, as a QR label; the device pairs with the id and code and its request waits; a technician scans the label on the /onboard page, and an approver there confirms the device in front of them, which approves its request; the device installs and the page shows it Provisioned.',
  bestFor: 'Devices installed on site by a technician with a phone, and by owners who should not type codes.',
  zones: [
    { id: 'operator', name: 'PKI administration', description: 'The PKI admin with an API token.' },
    { id: 'datacentre', name: 'Data centre', description: 'The provisioning service (which also serves /onboard) and its central station.' },
    { id: 'ward', name: 'Ward', description: 'The technician with a phone, and the device in front of them.' },
  ],
  actors: [
    { id: 'admin', name: 'PKI admin', zone: 'operator', description: 'Pre-registers devices and prints their QR labels.' },
    { id: 'service', name: 'Provisio service', zone: 'datacentre', description: 'Checks records and codes, issues certificates, signs payloads, serves the Onboard page.' },
    { id: 'station', name: 'Central station', zone: 'datacentre', description: 'Where provisioned devices check in over mutual TLS.' },
    { id: 'technician', name: 'Technician (phone, /onboard)', zone: 'ward', description: 'Signed in to the web UI\'s Onboard page on a phone; confirming needs the approver or admin role.' },
    { id: 'device', name: 'Device', zone: 'ward', description: 'Runs `provisio device pair` with the id and code from the setup payload.' },
  ],
  steps: [
    {
      id: 'register', from: 'admin', to: 'service', title: 'POST /api/v1/pairings',
      sentence: 'The PKI admin pre-registers the device; the service answers its pairing code and `setup`, the setup payload it makes with its own service URL and root, which the CLI writes as a QR code (pairing.create; --qr-terminal draws it on the terminal instead).',
      why: 'The record and the code exist before anyone is at the device; the service makes the payload, so the CLI\'s PNG and the System page\'s picture are the same.',
      channel: ADMIN_API,
      command: 'provisio pairing create --system ZMonitor --component "bedside monitor" --id DEV-001 --label "Bed 12" --qr dev-001.png',
      carries: [
        { name: 'deviceId', example: 'DEV-001' },
        { name: 'deviceLabel', example: 'Bed 12' },
        { name: 'code', example: 'ABCD-****', note: 'the pairing code, shown once; only its scrypt hash is kept' },
        { name: 'setup', example: SETUP, note: 'url (https only), root (sha256: and the hex SHA-256 of the root\'s DER), id, code: it holds the code (masked here)' },
      ],
      stateChange: 'A pairing record (active) with the code\'s scrypt hash; dev-001.png, mode 0600, holding the setup payload.',
      threats: ['The QR image left in a shared folder: it holds the code.'],
      mitigations: ['The PNG is written 0600 and never over an existing file, and the CLI says it holds the secret; the code expires (72 h by default) and is single-use.'],
      residualRisk: 'The code is in clear in the image and on the printed label until the device pairs.',
      verifies: [],
      standards: [{ id: 'NIST IR 8259', level: 'supports', claim: 'Device identification (IR 8259A): each device has its own identifier and record before it is provisioned.' }],
      duration: { seconds: 30, humanWait: true },
    },
    {
      id: 'label', from: 'admin', to: 'technician', title: 'QR label to the ward',
      sentence: 'The QR label travels with the device to the ward, printed or on the technician\'s work order; the image file is deleted.',
      why: 'The code must reach the place where the device is installed; it travels outside the network.',
      channel: PRINTED_QR,
      carries: [{ name: 'QR', example: SETUP, note: 'error correction level M' }],
      stateChange: null,
      threats: ['Anyone who sees the label (or a photo of it) knows the code.'],
      mitigations: ['Single use, bound to one deviceId, expires; wrong codes lock the record after 5; revoke with provisio pairing revoke.'],
      residualRisk: 'Whoever reads the label before the device pairs can pair in its place, as that device id only (and without --secret-approves on, still needs an approver).',
      verifies: [],
      standards: [{ id: 'ETSI EN 303 645', level: 'supports', claim: 'Provision 5.1-1: no universal default password: each code is unique to one device, random and single-use.' }],
      duration: { seconds: 600, humanWait: true },
    },
    {
      id: 'setup', from: 'technician', to: 'device', title: 'Setup to the device',
      sentence: 'The technician gives the device what the payload holds — url, id and code for `provisio device pair`, and for --ca the root.crt whose SHA-256 over its DER equals the payload\'s root=sha256:… (the service serves it at /ca/root.crt).',
      why: 'The device needs its id, its code and a root it can trust before its first call; the fingerprint in the label lets it take the root from the network without trusting the network.',
      channel: { kind: 'human', secure: false, label: 'a person: typed or scanned into the device' },
      carries: [
        { name: 'url', example: 'https://pki.hospital.example:8443' },
        { name: 'id', example: 'DEV-001' },
        { name: 'code', example: 'ABCD-****' },
        { name: 'root', example: 'sha256:9f86d081…', note: 'lowercase hex SHA-256 of the root certificate\'s DER' },
      ],
      stateChange: 'The device holds its id, code and root.',
      threats: ['A root swapped for an attacker\'s.', 'The code seen while it is typed.'],
      mitigations: ['The root is pinned by its SHA-256 in the label, next to the code.', 'Single use, bound to one deviceId, expires.'],
      residualRisk: '`provisio device pair` does not read the setup payload: comparing the root with the fingerprint is the person\'s (or a setup app\'s) job; a root taken unchecked trusts what the network gave.',
      verifies: [{ by: 'technician', checks: 'the SHA-256 of root.crt\'s DER equals root=sha256:… in the setup payload', anchor: 'the QR label' }],
      standards: [],
      duration: { seconds: 60, humanWait: true },
    },
    ...DEVICE_ASKS_STEPS,
    {
      id: 'scan', from: 'technician', to: 'service', title: 'POST /api/v1/onboard/lookup',
      sentence: 'The technician scans the label on the /onboard page (the browser\'s BarcodeDetector and the rear camera, or the payload, or the id and code, typed); the page sends deviceId and code, and the service answers the pairing, the device and the request it made: Needs approval, while the device waits.',
      why: 'After the device asked: what is confirmed is the request the code made (before it, the page says "has not asked yet" and confirming answers pairing_not_asked). The page polls every 2 s and shows the record\'s label, system and component to compare with the device in front of them.',
      channel: SESSION_TLS,
      carries: [
        { name: 'deviceId', example: 'DEV-001' },
        { name: 'code', example: 'ABCD-****', note: 'masked here, sent in full; kept in the page\'s memory only, never in the address or storage' },
        { name: 'answer', example: '{"pairing":{"deviceId":"DEV-001","deviceLabel":"Bed 12","system":"ZMonitor","state":"used",…},"device":{"state":"pending",…},"request":{"id":"…","state":"pending"}}' },
      ],
      stateChange: null,
      threats: ['A label stuck on the wrong device.', 'Guessing codes through the page.'],
      mitigations: ['The page shows the record\'s label, system and component to compare with the device.', 'The code is checked as a device\'s is (checkPairingCode): a wrong one counts towards the lock and gets the same pairing_code_invalid.'],
      residualRisk: 'The comparison is a person\'s.',
      verifies: [
        { by: 'service', checks: 'the signed-in session (admin, approver or technician) and the code against the record\'s scrypt hash', anchor: 'the pairing record' },
        { by: 'technician', checks: 'the record matches the device in front of them', anchor: 'the pairing record' },
      ],
      standards: [],
      duration: { seconds: 30, humanWait: true },
    },
    {
      id: 'approve', from: 'technician', to: 'service', title: 'POST /api/v1/onboard/confirm',
      sentence: 'An approver or admin at the device confirms it ("Confirm DEV-001"): the call carries deviceId and code, the service approves the device\'s pending request as that person and the issuing CA signs the certificate (request.approve, with confirmedInPerson).',
      why: 'The confirmation is the approval of the request (D46), not a second gate: holding the code shows the person stands at the device the label was printed for. With --secret-approves on the code itself approved the request at the pair call (request.auto_approve, rule enrollment-secret) and there is nothing to confirm.',
      channel: SESSION_TLS,
      carries: [
        { name: 'deviceId', example: 'DEV-001' },
        { name: 'code', example: 'ABCD-****', note: 'masked here, sent in full' },
        { name: 'audit entry', example: '{"action":"request.approve","actor":"user:abe","details":{"deviceId":"DEV-001","serial":"5F0A…",…,"confirmedInPerson":true,"pairing":"DEV-001"}}' },
        { name: 'serial', example: '5F0A…', note: 'the certificate\'s, below' },
      ],
      stateChange: 'Certificate issued; the device Approved; its next ask (the same code and CSR) gets the payload.',
      threats: ['A technician letting a device in without an approver.', 'The person who pre-registered the device approving it too.'],
      mitigations: ['Confirming needs the approver or admin role (a technician gets role_forbidden; the page says an approver must), and passes every approval re-check: expiry, key types, the device still waiting, the approver still enabled.', 'With separation of duties on, the pairing code\'s creator gets approver_is_submitter.'],
      residualRisk: 'Whoever holds the label and an approver\'s session can confirm a device they are not in front of.',
      verifies: [{ by: 'service', checks: 'the person\'s role, the code, separation of duties and the approval re-checks', anchor: 'the signed-in session and the pairing record' }],
      standards: [{ id: 'RFC 5280', level: 'implements', claim: 'The device certificate: subject, SAN, key usage and EKU from the component\'s template, not from the CSR.' }],
      duration: { seconds: 30, humanWait: true },
    },
    ...DEVICE_INSTALLS_STEPS,
    {
      id: 'watch', from: 'service', to: 'technician', title: '/onboard: Provisioned',
      sentence: 'The Onboard page, polling the lookup every 2 s, shows the device Provisioned once its mutual-TLS confirmation arrived.',
      why: 'Last: the technician leaves the bedside knowing the device holds a working identity.',
      channel: SESSION_TLS,
      carries: [{ name: 'device', example: '{"state":"provisioned","provisionedAt":"…"}' }],
      stateChange: null,
      threats: [],
      mitigations: [],
      residualRisk: 'Low.',
      verifies: [],
      standards: [],
      duration: { seconds: 5, humanWait: false },
    },
  ],
  assessment: {
    complexity: { score: 2, reason: 'A printed label and a web page: no app to build, no BLE stack; the pairing code flow underneath.' },
    security: { score: 3, reason: 'The pairing flow\'s signed, verified answer and mutual TLS, and a person with the approver role confirming at the device; the label itself is the secret until the device pairs.' },
    friction: { score: 2, reason: 'Scan, compare, confirm: about a minute per device, no code to type on the phone.' },
    scalability: { score: 3, reason: 'One label per device; one technician can onboard a ward in an afternoon.' },
  },
};
