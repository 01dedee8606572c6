/** Provisio's disconnected flow (docs/service.md "The disconnected flow"): files carried by a technician. */
import { ON_DEVICE, SESSION_TLS, SIGNED_FILE } from './channels.js';
import { provisioConnected } from './provisio-connected.js';
import type { Method, Step } from './types.js';

const shared = (id: string): Step => {
  const step = provisioConnected.steps.find((s) => s.id === id);
  if (!step) throw new Error(`no connected step ${id}`);
  return step;
};

export const provisioDisconnected: Method = {
  id: 'provisio-disconnected',
  name: 'Provisio: disconnected',
  kind: 'provisio',
  summary: 'The device never talks to the service: a technician carries the signed request file to the service and the certified profile back, then marks the device complete.',
  bestFor: 'Devices on isolated networks (a ward, a production line) with no route to the service.',
  zones: [
    { id: 'operator', name: 'Operator', description: 'People signed in to the admin UI or the CLI.' },
    { id: 'datacentre', name: 'Data centre', description: 'The provisioning service with its issuing CA and database.' },
    { id: 'field', name: 'Field', description: 'The technician and the device at the installation site.' },
  ],
  actors: [
    { id: 'admin', name: 'Administrator', zone: 'operator', description: 'Creates systems, components and packages.' },
    { id: 'approver', name: 'Approver', zone: 'operator', description: 'Decides each request.' },
    { id: 'service', name: 'Provisio service', zone: 'datacentre', description: 'Checks requests, issues certificates, signs profiles.' },
    { id: 'technician', name: 'Technician', zone: 'field', description: 'Carries files on a USB stick; uses the Provisioning page or the CLI.' },
    { id: 'device', name: 'Device', zone: 'field', description: 'Runs provisio device init / install offline.' },
  ],
  steps: [
    shared('package'),
    { ...shared('init'), sentence: 'Offline, the device (provisio device init) generates its key pair, builds a CSR and signs the request with its key and the bootstrap key.' },
    {
      id: 'carry-request', from: 'device', to: 'technician', title: 'request.ppr to USB',
      sentence: 'The technician copies the signed request file from the device onto a USB stick.',
      why: 'The device has no network, so a person carries the file; it holds no secret, only signed public data.',
      channel: SIGNED_FILE,
      carries: [{ name: 'file', example: 'DEV-001.ppr (two JWS signatures)' }],
      stateChange: null,
      threats: ['The file is altered on the stick.'],
      mitigations: ['Any change breaks a signature and intake refuses it (pr_device_signature_invalid).'],
      residualRisk: 'Low: a lost stick exposes public data only.',
      verifies: [],
      standards: [{ id: 'RFC 7515', level: 'uses', claim: 'Integrity of the file rests on its JWS signatures, not on the medium.' }],
      duration: { seconds: 600, humanWait: true },
    },
    {
      id: 'upload', from: 'technician', to: 'service', title: 'Upload request',
      sentence: 'The technician uploads the request file (Provisioning page or provisio request upload).',
      why: 'Intake runs the same checks as a device submission before anything is stored.',
      channel: SESSION_TLS,
      carries: [{ name: 'route', example: 'POST /api/v1/requests' }, { name: 'answer', example: '201 { id: "req_9f2c…", state: "pending" }' }],
      stateChange: 'Request stored as pending (transport upload); audit request.submit.',
      threats: ['A tampered or replayed file.'],
      mitigations: ['Signatures, package, expiry and nonce replay are checked; identical bytes return the same request.'],
      residualRisk: 'As for the connected submission.',
      verifies: shared('submit').verifies.slice(0, 1),
      standards: [],
      duration: { seconds: 2, humanWait: false },
    },
    shared('approve'),
    {
      id: 'download', from: 'service', to: 'technician', title: 'Download profile',
      sentence: 'The technician downloads the certified profile (or a signed bundle of many).',
      why: 'The profile exists only once the request is approved.',
      channel: SESSION_TLS,
      carries: [{ name: 'route', example: 'GET /api/v1/requests/req_9f2c…/profile' }, { name: 'file', example: 'DEV-001.pcp' }],
      stateChange: null,
      threats: ['A profile altered after download.'],
      mitigations: ['The device verifies the profile signature before installing.'],
      residualRisk: 'Low.',
      verifies: [],
      standards: [],
      duration: { seconds: 2, humanWait: false },
    },
    {
      id: 'carry-profile', from: 'technician', to: 'device', title: 'profile.pcp from USB',
      sentence: 'The technician copies the profile onto the device.',
      why: 'The device cannot fetch it itself.',
      channel: SIGNED_FILE,
      carries: [{ name: 'file', example: 'DEV-001.pcp (signed by the profile signer)' }],
      stateChange: null,
      threats: ['A profile for another device is copied by mistake or on purpose.'],
      mitigations: ['The device refuses a profile not naming its identity and key.'],
      residualRisk: 'Low.',
      verifies: [],
      standards: [{ id: 'RFC 7515', level: 'uses', claim: 'The profile is a JWS checked against the package root.' }],
      duration: { seconds: 600, humanWait: true },
    },
    { ...shared('install'), channel: ON_DEVICE, sentence: 'Offline, the device (provisio device install) verifies the profile against the root from its package and installs the certificate.' },
    {
      id: 'complete', from: 'technician', to: 'service', title: 'Complete provisioning',
      sentence: 'The technician marks the device complete; the service records it as Provisioned.',
      why: 'The service cannot see the install, so a person states it after installing.',
      channel: SESSION_TLS,
      carries: [{ name: 'route', example: 'POST /api/v1/devices/DEV-001/complete' }],
      stateChange: 'Device provisioned; audit device.complete.',
      threats: ['The technician marks a device complete that was never installed.'],
      mitigations: ['Only admin and technician roles may; the audit log names who did it.'],
      residualRisk: 'The Provisioned state rests on the technician\'s word, unlike the connected flow\'s mutual-TLS proof.',
      verifies: [{ by: 'service', checks: 'the technician\'s session and role', anchor: 'the service\'s user store' }],
      standards: [{ id: 'IEC 62443-4-2', level: 'supports', claim: 'The device.complete audit entry names who completed provisioning, supporting CR 2.8 (auditable events); not a certification.' }],
      duration: { seconds: 60, humanWait: true },
    },
  ],
  assessment: {
    complexity: { score: 3, reason: 'Two file round trips through a person, two CLI commands on the device.' },
    security: { score: 4, reason: 'Same signatures and checks as connected; the air gap removes network exposure, but completion is a person\'s word.' },
    friction: { score: 4, reason: 'A technician walks files both ways; bundles carry many profiles at once.' },
    scalability: { score: 2, reason: 'Bounded by technicians\' visits; bundles and bulk approval help.' },
  },
};
