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
    name: 'Pre-shared key / one-time token',
    what: 'A secret both sides know. In Provisio an enrollment token (pvt_<id>_<secret>, 256 random bits) authenticates one enrollment: the device sends it with a CSR, and what it keeps is a certificate, not the secret.',
    lifecycle: ['made by an administrator (provisio token create), bound to a device id or pattern', 'printed once; only its SHA-256 stored', 'copied onto the device', 'spent with a CSR (token.use)', 'used up or expired (24 h by default)'],
    attacks: [
      { attack: 'Secret seen while copied', mitigation: 'Single use, short-lived, bound to its device id; revoke it if it may have leaked.' },
      { attack: 'A stolen database', mitigation: 'Only the SHA-256 of 256 random bits is stored: nothing to search offline.' },
      { attack: 'Used for another device', mitigation: 'token_device_mismatch: a token enrolls only the id or pattern it names.' },
    ],
    rotation: 'Not rotated: spent once; the device renews its certificate afterwards.',
    revocation: 'provisio token revoke before it is used; after, revoke the device\'s certificate.',
    steps: [
      { method: 'token-psk', step: 'create' },
      { method: 'token-psk', step: 'hand-over' },
      { method: 'token-psk', step: 'enroll' },
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
    name: 'Pairing code (typed or in a QR label)',
    what: 'A short one-time code (ABCD-1234: 40 bits from the CSPRNG, no look-alike characters) bound to a pre-registered device id; with it the device asks for provisioning.',
    lifecycle: ['made with the device record (provisio pairing create, --qr for a label)', 'printed once; only a scrypt hash stored', 'handed over or scanned', 'spent with a CSR (pairing.use)', 'used up, expired (72 h by default) or revoked'],
    attacks: [
      { attack: 'A photo of the label or note', mitigation: 'Single use and bound to one device id; expires; revoke it if it may have leaked.' },
      { attack: 'Online guessing', mitigation: 'Wrong codes counted per device in the database; locked after 5 until an administrator resets it; one answer and one timing for wrong, unknown and locked.' },
      { attack: 'Offline guessing from a stolen database', mitigation: 'scrypt with its own salt per code.' },
    ],
    rotation: 'Not rotated: spent once; a new code replaces an unused one (provisio pairing create again).',
    revocation: 'provisio pairing revoke; a locked record is reset with provisio pairing reset.',
    steps: [
      { method: 'provisio-pairing', step: 'register' },
      { method: 'provisio-pairing', step: 'hello' },
      { method: 'provisio-pairing', step: 'pair' },
      { method: 'qr-app', step: 'label' },
      { method: 'qr-app', step: 'scan' },
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
