/**
 * Renewal as the code does it (docs/lifecycle.md "Renewal request", "Install and switch",
 * "Re-key"): server domain/lifecycle.ts renewDevice and installRenewal, device SDK
 * renew-connected.ts. A lifecycle flow, not a provisioning method.
 */
import { MUTUAL_TLS, ON_DEVICE } from './channels.js';
import type { LifecycleFlow } from './types.js';

export const provisioRenewal: LifecycleFlow = {
  id: 'provisio-renewal',
  name: 'Provisio: renewal',
  kind: 'provisio',
  summary: 'A provisioned device renews its certificate itself: over mutual TLS with its current certificate it sends a renewal request signed by its current key and carrying a CSR, gets a new certificate and profile at once, installs them and confirms over mutual TLS with the new certificate. With --rekey the CSR carries a new key and the old certificate is revoked when the new one is confirmed.',
  bestFor: 'Every provisioned device, before its certificate ends: the agent renews inside the profile\'s renewal window, or an operator runs provisio device renew.',
  zones: [
    { id: 'datacentre', name: 'Data centre', description: 'The provisioning service with its issuing CA and database.' },
    { id: 'field', name: 'Field', description: 'The provisioned device at its site.' },
  ],
  actors: [
    { id: 'service', name: 'Provisio service', zone: 'datacentre', description: 'Authenticates the device by its current certificate, issues the new one, keeps the audit log.' },
    { id: 'device', name: 'Device', zone: 'field', description: 'Runs the device SDK (renewConnected, or the agent\'s renewWhenDue) over its keystore.' },
  ],
  steps: [
    {
      id: 'init', from: 'device', to: 'device', title: 'CSR + renewal JWS made',
      sentence: 'When renewal is due, the device builds a PKCS#10 CSR for its key and signs a renewal request with its current key: device id, the serial being renewed, the CSR, a nonce and the time.',
      why: 'Everything is signed before anything is sent; with --rekey the new key is written to renewal.key (0600) first, because the certificate issued for it is useless without it.',
      channel: ON_DEVICE,
      carries: [
        { name: 'aud', example: 'provisio-renew', note: 'a renewal request is never taken for a reprovisioning' },
        { name: 'deviceId', example: 'DEV-001' },
        { name: 'serial', example: '5A1F…', note: 'the certificate presented over TLS' },
        { name: 'csr', example: 'MIIBFTCBvAIBADAS…', note: 'same key, or the new one with --rekey' },
        { name: 'nonce', example: 'k3J9…(128 bits)' },
        { name: 'iat', example: '2027-02-08T12:00:00Z', note: 'accepted within ±5 minutes of the service clock' },
      ],
      stateChange: 'With --rekey only: renewal.key (0600) in the keystore.',
      threats: ['A fleet provisioned together renewing together and overloading the service.'],
      mitigations: ['The moment is at 2/3 of the lifetime moved by a jitter fixed per certificate (from its serial), the same after every restart.'],
      residualRisk: 'The current key is a file protected by file permissions, not a secure element; whoever copies it can renew as the device.',
      verifies: [],
      standards: [
        { id: 'RFC 2986', level: 'implements', claim: 'The CSR is a PKCS#10 certification request whose self-signature proves possession of the key to certify.' },
        { id: 'RFC 7515', level: 'implements', claim: 'The renewal request is a JWS in compact serialization (section 7.1) signed with the current key.' },
      ],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'renew', from: 'device', to: 'service', title: 'POST /api/v1/device/renew',
      sentence: 'The device sends {"renewal": JWS} over mutual TLS with its current certificate; the service checks it and issues a new certificate and profile in one transaction.',
      why: 'The current certificate replaces the bootstrap credential: only a provisioned device holding its current key gets through, so no approver is asked.',
      channel: MUTUAL_TLS,
      carries: [
        { name: 'client certificate', example: 'serial 5A1F… (the current one) + issuing CA' },
        { name: 'body', example: '{ "renewal": "eyJhbGciOiJFUzI1NiIs…" }' },
      ],
      stateChange: 'One transaction: a request of kind renewal recorded approved (no policy, never counted towards maxPerHour), a certificate with the device record\'s names issued, a profile signed; audit certificate.renew (previous and next serial, rekey, expired).',
      threats: ['A stolen or revoked certificate used to renew.', 'A renewal request replayed or signed by another key.', 'A key that a revoked certificate certified brought back.'],
      mitigations: [
        'The certificate must chain to the root with clientAuth, be the device\'s current, unrevoked certificate of a provisioned device (certificate_revoked, client_certificate_unknown); an expired one only within the component\'s grace period (renewal_grace_expired, default 0 days).',
        'The JWS must be signed by the presented certificate\'s key and name this device and serial within ±5 minutes (renewal_signature_invalid, renewal_claims_invalid); the CSR must prove possession (csr_signature_invalid).',
        'A key certified by a revoked certificate of the device is refused (device_key_revoked); a nonce is used once (request_replayed).',
      ],
      residualRisk: 'Whoever holds the device\'s current key and certificate can renew them until the certificate or the device is revoked.',
      verifies: [
        { by: 'service', checks: 'client certificate chain and status, JWS signature by that certificate\'s key, claims, CSR proof of possession, key type and revoked keys', anchor: 'the service root and its certificate records' },
        { by: 'device', checks: 'the service TLS certificate', anchor: 'root.crt in the keystore' },
      ],
      standards: [
        { id: 'RFC 8446', level: 'uses', claim: 'TLS client certificate authentication with the current certificate; the device trusts only its root.' },
        { id: 'RFC 5280', level: 'uses', claim: 'The client certificate is path-validated to the root; an expired one at its own notAfter, within the grace period only.' },
      ],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'issued', from: 'service', to: 'device', title: '201 certified profile',
      sentence: 'The answer on the same call is the new certified profile: the new certificate, its chain and the service\'s signature.',
      why: 'The certificate is issued in the same transaction as the request is recorded, so there is nothing to wait for; sending the same JWS again answers the same profile and issues nothing.',
      channel: MUTUAL_TLS,
      carries: [
        { name: 'profile', example: 'application/vnd.provisio.profile+json' },
        { name: 'x-certificate-serial', example: '7C02…' },
        { name: 'x-request-id', example: 'req_41d0…', note: 'the renewal\'s request record' },
      ],
      stateChange: null,
      threats: ['A profile swapped in transit.'],
      mitigations: ['The device verifies the profile signature and the certificate chain against its root before installing.'],
      residualRisk: 'Low.',
      verifies: [],
      standards: [{ id: 'RFC 5280', level: 'implements', claim: 'The new certificate follows the same RFC 5280 profile as the first; its names come from the device record, never from the CSR.' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'install', from: 'device', to: 'device', title: 'Verify + install',
      sentence: 'The device verifies the profile against its root and replaces certificate and profile in one step; with --rekey device.key is replaced in that same step and renewal.key removed.',
      why: 'The previous certificate stays until now, so a device that fails here still holds a working identity and simply renews again.',
      channel: ON_DEVICE,
      carries: [{ name: 'files written', example: 'certificate.pem, profile.pcp, install.json (and device.key with --rekey)' }],
      stateChange: 'Keystore holds the new certificate, not yet confirmed.',
      threats: ['A profile for another device or key.'],
      mitigations: ['The certificate must name this device and carry the key of the CSR.'],
      residualRisk: 'A crash between replacing device.key and identity.json during a re-key leaves a keystore loadDevice reports as damaged (docs/lifecycle.md).',
      verifies: [{ by: 'device', checks: 'profile signature, certificate chain, key and identity match', anchor: 'root.crt in the keystore' }],
      standards: [{ id: 'RFC 5280', level: 'implements', claim: 'Path validation of the new certificate to the root (section 6).' }],
      duration: { seconds: 1, humanWait: false },
    },
    {
      id: 'confirm', from: 'device', to: 'service', title: 'POST /api/v1/device/confirm',
      sentence: 'The device confirms over mutual TLS with its new certificate; the service makes it the device\'s current certificate.',
      why: 'Only now is it proven that the device holds the new certificate and key: until then the old certificate stays current, and after a re-key it is only now revoked.',
      channel: MUTUAL_TLS,
      carries: [
        { name: 'client certificate', example: 'serial 7C02… (the new one) + issuing CA' },
        { name: 'proof', example: 'JWS { aud: "provisio-confirm", deviceId, serial, iat }' },
      ],
      stateChange: 'The new certificate is current; audit certificate.install. After a re-key the old certificate (and any other of the old key) is revoked superseded and the CRL published in the same transaction; a same-key renewal revokes nothing, the old certificate expires.',
      threats: ['A confirmation by something other than the device.', 'An old key still accepted after a re-key.'],
      mitigations: ['The client certificate must chain to the root and be the device\'s new certificate; the proof must be signed by its key.', 'Re-key: revocation and CRL in the confirming transaction; cached OCSP answers dropped after commit.'],
      residualRisk: 'A same-key renewal leaves the old certificate valid until it expires (it certifies the same key).',
      verifies: [{ by: 'service', checks: 'client certificate chain, the device\'s renewed certificate awaiting install, proof signature', anchor: 'the service root and its certificate records' }],
      standards: [
        { id: 'RFC 8446', level: 'uses', claim: 'TLS client certificate authentication with the new certificate.' },
        { id: 'RFC 5280', level: 'uses', claim: 'After a re-key the superseded certificate is listed on a CRL (reason superseded).' },
      ],
      duration: { seconds: 1, humanWait: false },
    },
  ],
};
