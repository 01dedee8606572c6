/**
 * Enrollment with a one-time secret instead of a provisioning package (docs/device.md
 * "Enrollment with a token or pairing code"): `enrollWithToken` (an enrollment token, `provisio
 * device enroll`) and, in pair-device.ts, `pairDevice` (a pairing code, `provisio device pair`).
 *
 * The key is generated here and never leaves the device: the service gets a CSR. What the
 * service answers is verified in memory — the certified profile's signature against the root
 * given on the command line (the only trust anchor), its validity now, that it names this
 * device id and certifies this key, and that it announces the same root — BEFORE anything is
 * written: a refused answer leaves the keystore directory as it was (not even created). Then
 * the keystore is written file by file, atomically, 0600 (device.key, root.crt, identity.json,
 * then installProfile's certificate.pem, profile.pcp, install.json), and the install is
 * confirmed to the service over mutual TLS with the new certificate (provisionConnected's
 * confirmation step), after which the service holds the device as Provisioned.
 */
import {
  type Clock,
  createCsr,
  createKeySigner,
  deviceSubjectAltName,
  encodePem,
  exportPrivateKeyPem,
  generateKey,
  type KeyType,
  OID,
  type ParsedCertificate,
  parseCertificate,
  parseDeviceId,
  publicKeyFingerprint,
  type Random,
  type Signer,
  checkNameAttribute,
} from '@provisio/pki';
import { parseCertifiedProfile, type ParsedCertifiedProfile, verifyCertifiedProfile } from '@provisio/protocol';
import { createHash } from 'node:crypto';
import { appendDeviceAudit, auditOrigin } from './device-audit-log.js';
import { DeviceError } from './errors.js';
import { installProfile } from './install-profile.js';
import { checkKeystoreDirectory, createKeystoreFiles, directoryMode, ensureKeystoreDirectory, fileState, keystorePath, replaceKeystoreFiles } from './keystore.js';
import { type HttpReply, type HttpTransport, errorOf, httpsTransport, isTransient, provisionConnected, type ProvisionConnectedResult } from './provision-connected.js';
import { type IdentityRecord, serializeRecord } from './records.js';

export interface SecretEnrollDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** Defaults to HTTPS trusting only `rootPem`. */
  readonly transport?: HttpTransport;
  /** For the mutual-TLS confirmation (defaults as in provisionConnected). */
  readonly confirmTransport?: HttpTransport;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** What the device makes before it asks: its key (in memory only until the answer verifies) and CSR. */
export interface DeviceKeyAndCsr {
  readonly keyType: KeyType;
  readonly signer: Signer;
  readonly keyPem: string;
  readonly csr: Buffer;
}

/**
 * The key and the CSR with the seed's profile (DOC-PROC-011): subject CN = deviceId and, when
 * known, OU = the system; SAN directoryName { CN = deviceId, description = deviceLabel } when the
 * label is known; key usage digitalSignature (+ keyEncipherment for RSA); EKU clientAuth. The
 * service takes every name from its own record and checks only the SAN against it (D29).
 */
export async function makeDeviceKeyAndCsr(input: { deviceId: string; deviceLabel?: string; system?: string; keyType?: KeyType }): Promise<DeviceKeyAndCsr> {
  const keyType = input.keyType ?? 'p256';
  const key = await generateKey(keyType);
  const signer = createKeySigner(key.privateKey);
  const csr = await createCsr(signer, {
    subject: [{ type: 'CN', value: input.deviceId }, ...(input.system ? [{ type: 'OU' as const, value: input.system }] : [])],
    ...(input.deviceLabel ? { subjectAltName: deviceSubjectAltName({ deviceId: input.deviceId, deviceLabel: input.deviceLabel }) } : {}),
    keyUsage: signer.publicKey.algorithm === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'],
    extKeyUsage: [OID.kpClientAuth],
  });
  return { keyType, signer, keyPem: exportPrivateKeyPem(key.privateKey), csr };
}

/** Refuses, before any work, a keystore directory that is not private or already holds a device. */
export function checkEmptyKeystore(dir: string): void {
  checkKeystoreDirectory(dir);
  if (directoryMode(dir) === null) return;
  if ((['identity', 'key', 'request', 'profile', 'certificate'] as const).some((f) => fileState(dir, f).present)) {
    throw new DeviceError('keystore_exists', `${dir} already holds a device identity; enrollment never replaces one`, 'use another --dir, or reset the device first');
  }
}

export function normalizeServiceUrl(url: string): string {
  const base = url.replace(/\/+$/, '');
  if (!/^https:\/\//.test(base)) {
    throw new DeviceError('service_refused', `the service URL must be https://; got ${JSON.stringify(url)}`, 'pass the service URL, e.g. --url https://pki.hospital.example:8443');
  }
  return base;
}

/**
 * Verifies a certified profile for `made` against `root` at the device's time, without writing:
 * signature and chain (protocol verifyCertifiedProfile), device id, key, validity, the announced
 * root. Throws the protocol's code (cp_signature_invalid, cp_expired, cp_device_mismatch, ...).
 */
export function verifyAnswerProfile(profileText: string | Uint8Array, expected: { root: ParsedCertificate; deviceId: string; signer: Signer; at: Date }): ParsedCertifiedProfile {
  const profile = parseCertifiedProfile(profileText);
  verifyCertifiedProfile(profile, { root: expected.root, deviceId: expected.deviceId, devicePublicKey: expected.signer.publicKey, at: expected.at });
  const announced = parseCertificate(Buffer.from(profile.payload.rootOfTrust, 'base64'));
  if (announced.fingerprint !== expected.root.fingerprint) {
    throw new DeviceError('profile_request_mismatch', `the profile announces root ${announced.fingerprint}, but this device was given ${expected.root.fingerprint}`, 'check --ca names the root of the service you enroll with');
  }
  return profile;
}

/**
 * Writes the keystore for a verified answer and installs its profile (installProfile verifies
 * it once more, now against the keystore's root.crt). identity.json is written last of the
 * first three: it marks a complete keystore.
 */
export async function writeEnrolledKeystore(
  deps: { readonly clock: Clock },
  input: {
    dir: string;
    serviceUrl: string;
    root: ParsedCertificate;
    made: DeviceKeyAndCsr;
    profile: ParsedCertifiedProfile;
    enrolledWith: string;
    /** What the device verified before writing, recorded once the log exists (the pairing payload). */
    verified?: { readonly signature: string; readonly issuedAt: string; readonly expiresAt: string };
  },
) {
  const { dir, made, profile, root } = input;
  const p = profile.payload;
  const now = deps.clock.now();
  const at = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const identity: IdentityRecord = {
    format: 'provisio.device-identity',
    v: 1,
    deviceId: p.deviceId,
    deviceLabel: p.deviceLabel,
    system: p.system,
    component: p.component,
    packageId: input.enrolledWith,
    hardwareSerial: null,
    firmwareVersion: null,
    keyType: made.keyType,
    publicKeySha256: publicKeyFingerprint(made.signer.publicKey),
    rootSha256: root.fingerprint,
    requestExpiresAt: at,
    state: 'requested',
    createdAt: at,
    mock: p.mock,
    serviceUrl: input.serviceUrl,
  };
  ensureKeystoreDirectory(dir);
  createKeystoreFiles(dir, [
    { file: 'key', data: made.keyPem },
    { file: 'root', data: encodePem('CERTIFICATE', root.der) },
    { file: 'identity', data: serializeRecord(identity) },
  ]);
  // The device's own log starts with the keystore (seed 003). What was refused before this point
  // wrote nothing, log included: the directory stays as it was.
  appendDeviceAudit(dir, {
    event: 'device.initialized',
    details: {
      deviceId: identity.deviceId,
      system: identity.system,
      component: identity.component,
      packageId: input.enrolledWith,
      keyType: identity.keyType,
      publicKeySha256: identity.publicKeySha256,
      rootSha256: identity.rootSha256,
      requestExpiresAt: identity.requestExpiresAt,
      replaced: false,
      mock: identity.mock,
    },
    at: now,
  });
  appendDeviceAudit(dir, {
    event: 'provision.requested',
    details: { requestId: p.requestId, service: auditOrigin(input.serviceUrl), requestSha256: createHash('sha256').update(made.csr).digest('hex'), created: true },
    at: now,
  });
  if (input.verified) {
    appendDeviceAudit(dir, {
      event: 'payload.verified',
      details: {
        deviceId: identity.deviceId,
        serial: profile.certificate.serial,
        signature: input.verified.signature,
        issuedAt: input.verified.issuedAt,
        expiresAt: input.verified.expiresAt,
      },
      at: now,
    });
  }
  return installProfile(deps, { dir, profileText: profile.raw });
}

/**
 * config.json: where the device's software finds the service and its credentials (seed 003
 * "update the configuration"). One file, replaced atomically (temp file, fsync, rename), so a
 * reader sees the old configuration or the new one, never half of each.
 */
export function writeDeviceConfig(dir: string, config: { serverUrl: string; at: Date }): void {
  const text = `${JSON.stringify({
    format: 'provisio.device-config',
    v: 1,
    serverUrl: config.serverUrl,
    certificate: keystorePath(dir, 'certificate'),
    key: keystorePath(dir, 'key'),
    root: keystorePath(dir, 'root'),
    profile: keystorePath(dir, 'profile'),
    updatedAt: config.at.toISOString(),
  }, null, 2)}\n`;
  replaceKeystoreFiles(dir, [{ file: 'config', data: text }]);
}

/** Retry-After in seconds as milliseconds, within [1 s, max]. */
function retryAfter(reply: HttpReply, maxMs: number): number {
  const v = reply.headers['retry-after'];
  const s = v !== undefined && /^\s*\d{1,6}\s*$/.test(v) ? Number(v) : 5;
  return Math.min(Math.max(1000, s * 1000), maxMs);
}

export interface TokenEnrollInput {
  readonly dir: string;
  readonly serviceUrl: string;
  /** The root to trust (PEM or DER): for TLS to the service and for the profile. */
  readonly rootPem: string | Buffer;
  /** The whole `pvt_…` enrollment token. */
  readonly token: string;
  readonly deviceId: string;
  readonly deviceLabel?: string;
  readonly keyType?: KeyType;
  /** How long to wait for an approver when the service answers 202. */
  readonly maxWaitMs: number;
  readonly onProgress?: (event: { step: 'submitted' | 'waiting' | 'installed' | 'confirmed'; requestId: string }) => void;
}

export interface SecretEnrollResult extends ProvisionConnectedResult {
  readonly keyPath: string;
}

/** `provisio device enroll`: token + CSR → certified profile → keystore → mutual-TLS confirmation. */
export async function enrollWithToken(deps: SecretEnrollDeps, input: TokenEnrollInput): Promise<SecretEnrollResult> {
  const deviceId = parseDeviceId(input.deviceId);
  if (input.deviceLabel !== undefined) checkNameAttribute({ type: 'description', value: input.deviceLabel });
  const base = normalizeServiceUrl(input.serviceUrl);
  checkEmptyKeystore(input.dir);
  const root = parseCertificate(input.rootPem);
  const token = input.token.trim();
  const made = await makeDeviceKeyAndCsr({ deviceId, ...(input.deviceLabel ? { deviceLabel: input.deviceLabel } : {}), ...(input.keyType ? { keyType: input.keyType } : {}) });
  const own = deps.transport ? null : httpsTransport(encodePem('CERTIFICATE', root.der), { timeoutMs: 40_000 });
  const transport = deps.transport ?? (own as HttpTransport);
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  try {
    const body = JSON.stringify({ token, deviceId, ...(input.deviceLabel ? { deviceLabel: input.deviceLabel } : {}), csr: made.csr.toString('base64') });
    const reply = await transport.request('POST', `${base}/api/v1/device/enroll`, { bytes: Buffer.from(body), contentType: 'application/json' });
    if (reply.status !== 201 && reply.status !== 202) {
      const e = errorOf(reply);
      throw new DeviceError('service_refused', `the service refused the enrollment: ${e.code}: ${e.message}`, 'ask an administrator for a valid token for this device id ("provisio token create")');
    }
    const answer = JSON.parse(reply.body.toString('utf8')) as { request?: { id?: unknown }; profile?: unknown };
    const requestId = typeof answer.request?.id === 'string' ? answer.request.id : '';
    if (!/^[A-Za-z0-9._:-]{1,80}$/.test(requestId)) throw new DeviceError('service_refused', 'the service answered the enrollment without a usable request id', 'check --url points at a Provisio service');
    input.onProgress?.({ step: 'submitted', requestId });
    let profileText = typeof answer.profile === 'string' ? answer.profile : null;
    const deadline = Date.now() + input.maxWaitMs;
    while (profileText === null) {
      // Waiting for an approver: the key stays in memory only; nothing is written until the answer verifies.
      input.onProgress?.({ step: 'waiting', requestId });
      const poll = await transport.request('GET', `${base}/api/v1/device/requests/${encodeURIComponent(requestId)}/profile?wait=25`);
      if (poll.status === 200) {
        profileText = poll.body.toString('utf8');
        break;
      }
      if (poll.status !== 202 && !isTransient(poll.status)) {
        const e = errorOf(poll);
        throw new DeviceError(e.code === 'request_rejected' ? 'provision_rejected' : 'service_refused', `the service answered request ${requestId}: ${e.code}: ${e.message}`, 'ask the approver; a new attempt needs a new token');
      }
      if (Date.now() >= deadline) {
        throw new DeviceError('provision_timeout', `request ${requestId} was not approved within ${Math.round(input.maxWaitMs / 1000)} s; nothing was written`, 'ask an approver, then enroll again with a new token (the waiting request can be rejected)');
      }
      await sleep(retryAfter(poll, Math.max(1000, deadline - Date.now())));
    }
    const profile = verifyAnswerProfile(profileText, { root, deviceId, signer: made.signer, at: deps.clock.now() });
    await writeEnrolledKeystore(deps, { dir: input.dir, serviceUrl: base, root, made, profile, enrolledWith: `token:${token.split('_')[1] ?? ''}` });
    writeDeviceConfig(input.dir, { serverUrl: base, at: deps.clock.now() });
    input.onProgress?.({ step: 'installed', requestId });
    const confirmed = await provisionConnected(
      {
        clock: deps.clock,
        random: deps.random,
        ...(deps.transport ? { transport: deps.transport } : {}),
        ...(deps.confirmTransport ? { confirmTransport: deps.confirmTransport } : {}),
      },
      { dir: input.dir, serviceUrl: base, maxWaitMs: Math.max(30_000, input.maxWaitMs) },
    );
    input.onProgress?.({ step: 'confirmed', requestId });
    return { ...confirmed, keyPath: `${input.dir}/device.key` };
  } finally {
    own?.close();
  }
}
