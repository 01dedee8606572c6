/**
 * Provisio's QR-code onboarding, as the code does it: `provisio pairing create --qr` renders the
 * setup payload (service URL, root fingerprint, device id, pairing code) as a QR code; a
 * technician scans it on the web UI's phone-sized /onboard page to confirm the device in front
 * of them; the device pairs with the code (the pairing flow's steps, provisio-pairing.ts) and
 * the page shows it become Provisioned.
 */
import { PRINTED_QR, SESSION_TLS } from './channels.js';
import { ADMIN_API, DEVICE_PAIRING_STEPS } from './provisio-pairing.js';
import type { Method } from './types.js';

export const qrApp: Method = {
  id: 'qr-app',
  name: 'Provisio: QR code / onboarding page',
  kind: 'provisio',
  summary: 'A pairing code rendered as a QR code with the service URL and root fingerprint; a technician scans it with a phone on the /onboard page to confirm the device in front of them, the device pairs with the code, and the page shows it become Provisioned.',
  bestFor: 'Devices installed on site by a technician with a phone, and by owners who should not type codes.',
  zones: [
    { id: 'operator', name: 'PKI administration', description: 'The PKI admin with an API token.' },
    { id: 'datacentre', name: 'Data centre', description: 'The provisioning service (which also serves /onboard) and its central station.' },
    { id: 'ward', name: 'Ward', description: 'The technician with a phone, and the device in front of them.' },
  ],
  actors: [
    { id: 'admin', name: 'PKI admin', zone: 'operator', description: 'Pre-registers devices and prints their QR labels.' },
    { id: 'service', name: 'Provisio service', zone: 'datacentre', description: 'Checks records and codes, issues certificates, signs payloads.' },
    { id: 'station', name: 'Central station', zone: 'datacentre', description: 'Where provisioned devices check in over mutual TLS.' },
    { id: 'technician', name: 'Technician (phone, /onboard)', zone: 'ward', description: 'Signed in to the web UI\'s onboarding page on a phone.' },
    { id: 'device', name: 'Device', zone: 'ward', description: 'Runs `provisio device pair` with the id and code from the setup payload.' },
  ],
  steps: [
    {
      id: 'register', from: 'admin', to: 'service', title: 'POST /api/v1/pairings',
      sentence: 'The PKI admin pre-registers the device and gets its pairing code with the setup payload — service URL, root fingerprint, device id, code — rendered as a QR code (pairing.create).',
      why: 'The record and the code exist before anyone is at the device; the QR carries what the device and the technician need in one label.',
      channel: ADMIN_API,
      command: 'provisio pairing create --system ZMonitor --component "bedside monitor" --id DEV-001 --label "Bed 12" --qr dev-001.png (or --qr-terminal)',
      carries: [
        { name: 'serviceUrl', example: 'https://pki.hospital.example:8443' },
        { name: 'root fingerprint', example: 'SHA-256 of the root certificate' },
        { name: 'deviceId', example: 'DEV-001' },
        { name: 'code', example: 'ABCD-****', note: 'the pairing code, shown once' },
      ],
      stateChange: 'A pairing record (open) with the code\'s scrypt hash; a QR image.',
      threats: ['The QR image left in a shared folder.'],
      mitigations: ['The code expires (72 h by default) and is single-use; the image is the only copy of the code.'],
      residualRisk: 'The code exists in clear in the image until the device pairs.',
      verifies: [],
      standards: [{ id: 'NIST IR 8259', level: 'supports', claim: 'Device identification (IR 8259A): each device has its own identifier and record before it is provisioned.' }],
      duration: { seconds: 30, humanWait: true },
    },
    {
      id: 'label', from: 'admin', to: 'technician', title: 'QR label to the ward',
      sentence: 'The QR label travels with the device to the ward, printed or on the technician\'s work order.',
      why: 'The code must reach the place where the device is installed; it travels outside the network.',
      channel: PRINTED_QR,
      carries: [{ name: 'QR', example: 'the setup payload' }],
      stateChange: null,
      threats: ['Anyone who sees the label (or a photo of it) knows the code.'],
      mitigations: ['Single use, bound to one deviceId, expires; wrong codes lock the record after 5; revoke with provisio pairing revoke.'],
      residualRisk: 'Whoever reads the label before the device pairs can pair in its place, as that device id only.',
      verifies: [],
      standards: [{ id: 'ETSI EN 303 645', level: 'supports', claim: 'Provision 5.1-1: no universal default password: each code is unique to one device, random and single-use.' }],
      duration: { seconds: 600, humanWait: true },
    },
    {
      id: 'scan', from: 'technician', to: 'service', title: 'Scan on /onboard',
      sentence: 'The technician scans the QR with the phone\'s camera on the /onboard page (or types the code); the page shows the device id, label, system and root fingerprint the service holds, to compare with the device in front of them.',
      why: 'Before the device pairs: a person confirms it is the registered device, at the bedside.',
      channel: SESSION_TLS,
      carries: [
        { name: 'deviceId', example: 'DEV-001' },
        { name: 'deviceLabel', example: 'Bed 12' },
      ],
      stateChange: null,
      threats: ['A label stuck on the wrong device.'],
      mitigations: ['The page shows the record\'s label and system to compare with the device.'],
      residualRisk: 'The comparison is a person\'s.',
      verifies: [{ by: 'technician', checks: 'the record matches the device in front of them', anchor: 'the pairing record' }],
      standards: [],
      duration: { seconds: 30, humanWait: true },
    },
    {
      id: 'enter', from: 'technician', to: 'device', title: 'Setup to the device',
      sentence: 'The device gets the setup payload: its id, the code, the service URL, and the root it will trust, checked against the fingerprint in the QR.',
      why: 'The device needs the code and a root before its first call.',
      channel: { kind: 'human', secure: false, label: 'a person: typed or scanned into the device' },
      carries: [{ name: 'code', example: 'ABCD-****' }],
      stateChange: 'The device holds its id, code and root.',
      threats: ['A root swapped for an attacker\'s.'],
      mitigations: ['The root\'s SHA-256 fingerprint is in the QR, next to the code.'],
      residualRisk: 'A device that cannot check the fingerprint trusts what it is given.',
      verifies: [{ by: 'device', checks: 'the root\'s SHA-256 equals the fingerprint in the setup payload', anchor: 'the QR label' }],
      standards: [],
      duration: { seconds: 60, humanWait: true },
    },
    ...DEVICE_PAIRING_STEPS,
    {
      id: 'watch', from: 'service', to: 'technician', title: '/onboard: Provisioned',
      sentence: 'The onboarding page shows the device become Provisioned once its mutual-TLS confirmation arrived.',
      why: 'Last: the technician leaves the bedside knowing the device holds a working identity.',
      channel: SESSION_TLS,
      carries: [{ name: 'state', example: 'provisioned' }],
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
    security: { score: 3, reason: 'The pairing flow\'s signed, verified answer and mutual TLS; the label itself is the secret until the device pairs.' },
    friction: { score: 2, reason: 'Scan, compare, done: about a minute per device, no code to type.' },
    scalability: { score: 3, reason: 'One label per device; one technician can onboard a ward in an afternoon.' },
  },
};
