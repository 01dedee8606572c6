/** Credential types: lifecycle, attacks and mitigations, rotation and revocation, each linked to the steps where it matters. */
export interface CredentialType {
  readonly id: string;
  readonly name: string;
  readonly what: string;
  readonly lifecycle: readonly string[];
  readonly attacks: readonly { attack: string; mitigation: string }[];
  readonly rotation: string;
  readonly revocation: string;
  /** Steps (method id + step id) where this credential is made, carried or checked. */
  readonly steps: readonly { method: string; step: string }[];
}

export const CREDENTIALS: readonly CredentialType[] = [
  {
    id: 'x509',
    name: 'X.509 device certificate',
    what: 'A public key bound to the device\'s identity by a CA\'s signature; the private key stays on the device.',
    lifecycle: ['key generated on the device', 'CSR with proof of possession', 'approval', 'issuance', 'installation', 'use in mutual TLS', 'renewal before expiry', 'revocation or expiry'],
    attacks: [
      { attack: 'Private key extraction from the device', mitigation: 'Generate and keep the key in a secure element or TPM; file keys mode 0600.' },
      { attack: 'Mis-issuance from a forged request', mitigation: 'Authenticate requests (bootstrap signature), approve, and take names from the approved identity, never the CSR.' },
      { attack: 'Continued use after compromise', mitigation: 'Publish CRLs and answer OCSP; relying parties check status.' },
    ],
    rotation: 'Renew before notAfter with a new key (a revoked device must bring a new key in Provisio).',
    revocation: 'CRL (RFC 5280) and OCSP (RFC 6960) from the issuing CA; Provisio publishes both.',
    steps: [
      { method: 'provisio-connected', step: 'init' },
      { method: 'provisio-connected', step: 'approve' },
      { method: 'provisio-connected', step: 'install' },
      { method: 'provisio-connected', step: 'confirm' },
      { method: 'x509-csr', step: 'enrol' },
      { method: 'jitp', step: 'first-connect' },
    ],
  },
  {
    id: 'bootstrap',
    name: 'Bootstrap credential (Provisio package)',
    what: 'A key and certificate shared by the devices of one system, used only to sign requests; it proves the device was given a genuine package.',
    lifecycle: ['created with the package', 'copied to devices', 'signs requests', 'deleted from the device after use', 'package expiry or revocation'],
    attacks: [
      { attack: 'A copied package signs requests for an attacker', mitigation: 'Approval or a narrow automatic policy (device id pattern, hourly cap); short package lifetime.' },
      { attack: 'The package left on a device or a stick', mitigation: 'Mode 0600, the notice in the file, deletion after use.' },
    ],
    rotation: 'Create a new package per batch or period; old ones expire.',
    revocation: 'Revoke the package (package_revoked): the service refuses its requests from then on.',
    steps: [
      { method: 'provisio-connected', step: 'package' },
      { method: 'provisio-connected', step: 'submit' },
      { method: 'provisio-disconnected', step: 'upload' },
    ],
  },
  {
    id: 'psk',
    name: 'Pre-shared key / token',
    what: 'A symmetric secret known to both the device and the platform.',
    lifecycle: ['generated on the platform', 'copied to the device', 'used at every connection', 'rotated or deleted'],
    attacks: [
      { attack: 'Platform database breach exposes all secrets', mitigation: 'Store derived or encrypted secrets; one per device.' },
      { attack: 'Secret seen while copied', mitigation: 'Copy over a protected path; rotate after setup.' },
      { attack: 'Cloning: two devices with one secret', mitigation: 'Detect concurrent sessions; move to certificates.' },
    ],
    rotation: 'Needs a secure channel to deliver the new secret; often skipped in practice.',
    revocation: 'Delete the secret on the platform; there is nothing a third party can check.',
    steps: [
      { method: 'token-psk', step: 'register' },
      { method: 'token-psk', step: 'inject' },
      { method: 'token-psk', step: 'connect' },
    ],
  },
  {
    id: 'idevid',
    name: 'Manufacturer certificate (IDevID)',
    what: 'A certificate from the manufacturer\'s CA, installed at the factory, meant to last the device\'s life.',
    lifecycle: ['key made in the secure element at the factory', 'certified by the manufacturer CA', 'used only to obtain operational credentials'],
    attacks: [
      { attack: 'Factory insider issues extra identities', mitigation: 'Audited line, serial reconciliation, purchase records checked by the operator.' },
      { attack: 'Manufacturer CA compromise', mitigation: 'Accept IDevIDs only for known serials; switch to operational certificates early.' },
    ],
    rotation: 'Not rotated (it lives as long as the device); operational certificates are.',
    revocation: 'Rarely possible; the operator stops accepting the serial.',
    steps: [
      { method: 'manufacturer-cert', step: 'idevid' },
      { method: 'manufacturer-cert', step: 'enrol' },
      { method: 'zero-touch', step: 'idevid' },
      { method: 'zero-touch', step: 'enrol' },
    ],
  },
  {
    id: 'setup-code',
    name: 'Setup code (QR passcode)',
    what: 'A short secret printed on the device that lets whoever reads it start commissioning.',
    lifecycle: ['printed at manufacture', 'scanned by the user', 'used once in a PAKE session'],
    attacks: [
      { attack: 'A photo of the label', mitigation: 'Commissioning window opened by a button press; unique code per device.' },
      { attack: 'Offline guessing', mitigation: 'PAKE (SPAKE2+) and attempt limits.' },
    ],
    rotation: 'Fixed per device; factory reset reopens commissioning.',
    revocation: 'None; remove the device from the fabric instead.',
    steps: [
      { method: 'qr-app', step: 'scan' },
      { method: 'qr-app', step: 'pase' },
    ],
  },
];

/** Practices that hold for every credential type. */
export const CHECKLIST: readonly string[] = [
  'Generate private keys on the device, in hardware where it exists; never send them.',
  'One credential per device: no shared secrets in production.',
  'Authenticate the channel before any secret crosses it.',
  'Take identities from approved records, not from what the device claims.',
  'Give every credential an expiry and a way to revoke it, and check status (CRL / OCSP).',
  'Log issuance, approval and revocation in a tamper-evident audit log; never log secrets.',
  'Plan renewal before the first device ships.',
];
