/**
 * The device lifecycle after provisioning (docs/lifecycle.md): renewal with the current
 * certificate (same key, or a new key), renewal after expiry within the component's grace period,
 * and the switch to the new certificate once the device proves it installed it.
 *
 * A renewal is recorded as a request of kind 'renewal', approved when made: its certificate and
 * certified profile point at it exactly as a provisioning request's do, so the Requests and
 * Devices pages, the audit log and `authenticateDeviceCertificate` need nothing new. The device's
 * current request (hence its current certificate) moves to the renewal only when the device
 * confirms over mutual TLS with the new certificate: until then the old certificate stays
 * current, so a device that crashes before installing can simply renew again.
 */
import { OID, type ParsedCertificate, type PublicKeyInfo, type SerialNumber, checkRequestedSubjectAltNames, describePublicKey, deviceSubjectAltName, fingerprint, keyTypeOf, parseCertificate, publicKeyFingerprint, verifyChain } from '@provisio/pki';
import { RENEWAL_WINDOW_MS, REPROVISION_AUDIENCE, parseRenewalRequest, verifyRenewalRequest } from '@provisio/protocol';
import { effectivePolicy, evaluatePolicy } from './approval-policy.js';
import { publishCrl } from './crl.js';
import { type ServiceDeps, newId } from './deps.js';
import { ServiceError } from './errors.js';
import type { CertificateRecord, ComponentRecord, DeviceIdText, DeviceRecord, EnrollmentProtocol, PolicyVerdict, RequestId, RequestRecord } from './model.js';
import { approveRequest, finishAutomaticApproval } from './requests.js';
import { issueCertificate } from '../issuance/issue-certificate.js';
import { renewalMethod } from '../issuance/methods/device.js';
import { checkKeyPolicy } from '../issuance/key-policy.js';
import { DAY_MS, HOUR_MS, REPROVISION_LIFETIME_MS } from '../issuance/validity.js';
import { askDetails, clearAnsweredAsk } from './reprovision-ask.js';
import { revokeCertificatesInTx } from './revocation.js';
import { StoreConflict } from './store.js';

export interface RenewingDevice {
  readonly leaf: ParsedCertificate;
  readonly record: CertificateRecord;
  readonly device: DeviceRecord;
  readonly component: ComponentRecord;
  /** The presented certificate had expired (accepted within the component's grace period). */
  readonly expired: boolean;
}

/**
 * Who is renewing: the TLS client certificate must chain to the service's root through its issuing
 * CA (checked at its own notAfter when it has expired: the signature and purpose do not change
 * with time), be held by the store as the device's current certificate, not revoked, for a device
 * that is provisioned; an expired one only within the component's renewal grace period.
 */
export async function authenticateRenewingDevice(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority'>,
  presented: readonly Buffer[],
): Promise<RenewingDevice> {
  const [leafDer] = presented;
  if (!leafDer || leafDer.length === 0) {
    throw new ServiceError('client_certificate_required', 'renewal needs the device\'s current certificate as a TLS client certificate (mutual TLS)');
  }
  const now = deps.clock.now();
  const leaf = parseCertificate(leafDer);
  const expired = now.getTime() > leaf.notAfter.getTime();
  verifyChain({
    leaf,
    intermediates: [deps.authority.intermediate],
    roots: [deps.authority.root],
    at: expired ? leaf.notAfter : now,
    requiredExtKeyUsage: OID.kpClientAuth,
  });
  const unknown = (why: string) => new ServiceError('client_certificate_unknown', `certificate ${leaf.serial} ${why}`);
  const record = await deps.store.findCertificate(deps.authority.issuerFingerprint, leaf.serial);
  if (!record || record.kind !== 'device' || !record.deviceId || !record.der.equals(leaf.der)) throw unknown('is not a device certificate this service issued');
  if (record.status === 'revoked') {
    throw new ServiceError('certificate_revoked', `certificate ${leaf.serial} was revoked (${record.revocationReason}) at ${record.revokedAt?.toISOString()}; a revoked certificate never renews — the device must be provisioned again`);
  }
  const device = await deps.store.findDevice(record.deviceId);
  if (!device) throw unknown('belongs to no known device');
  if (device.state === 'revoked') {
    throw new ServiceError('certificate_revoked', `device "${device.deviceId}" was revoked; its certificates never renew — it must re-enter approval with a new key`);
  }
  if (device.state !== 'provisioned') {
    throw new ServiceError('device_not_provisioned', `device "${device.deviceId}" is ${device.state}; only a provisioned device renews or reprovisions (confirm the install first)`);
  }
  const current = await deps.store.findCertificateByRequest(device.currentRequestId);
  if (!current || !current.der.equals(leaf.der)) throw unknown(`is not the current certificate of device "${device.deviceId}" (it was replaced)`);
  const component = await deps.store.findComponentById(device.componentId);
  if (!component) throw new ServiceError('component_not_found', `the component of device "${device.deviceId}" no longer exists`);
  if (expired) {
    const graceEnd = new Date(leaf.notAfter.getTime() + component.renewalGraceDays * DAY_MS);
    if (now.getTime() > graceEnd.getTime()) {
      throw new ServiceError(
        'renewal_grace_expired',
        `certificate ${leaf.serial} expired at ${leaf.notAfter.toISOString()}; component "${component.name}" allows renewal up to ${component.renewalGraceDays} days after expiry (until ${graceEnd.toISOString()}) — the device must be provisioned again`,
      );
    }
  }
  return { leaf, record, device, component, expired };
}

export interface RenewalResult {
  readonly request: RequestRecord;
  readonly certificate: CertificateRecord;
  /** The certified profile (bytes as signed) the device installs. */
  readonly profile: Buffer;
  /** False when this exact renewal request was answered before (idempotent resubmission). */
  readonly created: boolean;
}

/**
 * Renews the presenting device's certificate: checks the renewal request (signed by the current
 * certificate's key, naming it, CSR proof of possession, key type allowed by the component), then
 * issues a new certificate from the component template and a new certified profile, recorded with
 * the renewal request and its audit entry (`certificate.renew`) in one transaction. An earlier
 * renewal the device never installed is superseded (its certificate revoked) in the same step.
 */
export async function renewDevice(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'revocation'>,
  input: { presented: readonly Buffer[]; renewal: unknown },
): Promise<RenewalResult> {
  const who = await authenticateRenewingDevice(deps, input.presented);
  const { leaf, device } = who;
  const parsed = parseRenewalRequest(input.renewal);
  const answered = await answeredRenewal(deps, parsed.contentHash, device.deviceId);
  if (answered) return answered;

  const now = deps.clock.now();
  verifyRenewalRequest(parsed, leaf.publicKey, { deviceId: device.deviceId, serial: leaf.serial, at: now });
  checkRequestedSubjectAltNames(parsed.csr, deviceSubjectAltName({ deviceId: device.deviceId, deviceLabel: device.label }));
  return issueRenewal(deps, who, {
    nonce: parsed.nonce,
    contentHash: parsed.contentHash,
    raw: Buffer.from(parsed.raw, 'utf8'),
    publicKey: parsed.csr.publicKey,
    expiresAt: new Date(parsed.iat.getTime() + RENEWAL_WINDOW_MS),
  });
}

/** A renewal's request as it arrived: the renewal JWS (docs/lifecycle.md), or a protocol's CSR (docs/protocols.md). */
export interface RenewalRequestInput {
  readonly nonce: string;
  readonly contentHash: string;
  readonly raw: Buffer;
  readonly publicKey: PublicKeyInfo;
  readonly expiresAt: Date;
  /** The enrollment protocol it came by (EST simplereenroll, CMP kur): raw is then the CSR. */
  readonly protocol?: EnrollmentProtocol;
}

/**
 * Issues the renewal of an authenticated device whose request was checked (signature, names):
 * records it as an approved request of kind 'renewal', revokes earlier renewals the device never
 * installed, and issues through the renewal method of the pipeline, all in one transaction.
 */
export async function issueRenewal(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'revocation'>,
  who: RenewingDevice,
  input: RenewalRequestInput,
): Promise<RenewalResult> {
  const { leaf, device, component } = who;
  const now = deps.clock.now();
  // The component's key types and key policy (a revoked certificate's key never again) are the
  // pipeline's: checked in the transaction below, which a refusal rolls back.
  const newKey = input.publicKey;
  const newKeySha256 = publicKeyFingerprint(newKey);
  const rekey = newKeySha256 !== publicKeyFingerprint(leaf.publicKey);
  const history = await deps.store.listCertificatesForDevice(device.deviceId);
  const [system, original] = await Promise.all([deps.store.findSystemById(device.systemId), deps.store.findRequest(device.currentRequestId)]);
  if (!system || !original) throw new ServiceError('device_not_found', `the system or current request of device "${device.deviceId}" no longer exists`);

  const request: RequestRecord = {
    ...followUpRequest(deps, device, original, input, newKey, now),
    state: 'approved',
    expiresAt: input.expiresAt,
    decidedAt: now,
    kind: 'renewal',
    ...(input.protocol ? { protocol: input.protocol } : {}),
  };
  // Certificates of earlier renewals the device never installed: active, issued after the current one.
  const uninstalled = history.filter((c) => c.status === 'active' && c.kind === 'device' && c.notAfter > now && c.createdAt.getTime() > who.record.createdAt.getTime());
  let outcome: { certificate: CertificateRecord; profile: Buffer; superseded: SerialNumber[] };
  try {
    outcome = await deps.store.transaction(async (tx) => {
      await tx.insertRequest(request);
      const superseded = await revokeCertificatesInTx(tx, uninstalled, { at: now, reason: 'superseded', actor: `device:${device.deviceId}` });
      if (superseded.length > 0) await publishCrl(tx, deps);
      const { certificate, profile } = await issueCertificate(tx, deps, {
        method: renewalMethod,
        operation: 'renew',
        now,
        input: {
          deps,
          request,
          system,
          component,
          publicKey: newKey,
          now,
          audit: (next) => ({
            at: now,
            actor: `device:${device.deviceId}`,
            action: 'certificate.renew',
            targetType: 'device',
            targetId: device.deviceId,
            details: {
              requestId: request.id,
              rekey,
              expired: who.expired,
              previous: { serial: leaf.serial, sha256: leaf.fingerprint, notAfter: leaf.notAfter.toISOString() },
              next: { serial: next.serial, sha256: next.fingerprint, notAfter: next.notAfter.toISOString() },
              publicKeySha256: newKeySha256,
              contentSha256: input.contentHash,
              ...(input.protocol ? { protocol: input.protocol } : {}),
              ...(superseded.length > 0 ? { supersededUninstalled: superseded.map((c) => c.serial) } : {}),
            },
          }),
        },
      });
      if (!profile) throw new Error('a renewal certificate is recorded with its certified profile');
      return { certificate, profile, superseded: superseded.map((c) => c.serial) };
    });
  } catch (e) {
    if (!(e instanceof StoreConflict)) throw e;
    // A concurrent twin of the same request won the race: answer what it recorded.
    const twin = await answeredRenewal(deps, input.contentHash, device.deviceId);
    if (twin) return twin;
    throw new ServiceError('request_replayed', 'the nonce of this renewal request was used by another request; make a new one');
  }
  if (outcome.superseded.length > 0) deps.revocation.revoked(outcome.superseded);
  return { request, certificate: outcome.certificate, profile: outcome.profile, created: true };
}

/** The answer already recorded for this renewal request of this device, or null. */
/**
 * The fields a renewal and a reprovisioning request share: the device's identity and the details
 * of the request it was provisioned with (the package column needs one; neither uses it), the new
 * key, and the signed request itself. The caller adds state, lifetime and kind.
 */
function followUpRequest(
  deps: Pick<ServiceDeps, 'random'>,
  device: DeviceRecord,
  original: RequestRecord,
  arrived: { readonly nonce: string; readonly contentHash: string; readonly raw: Buffer },
  newKey: PublicKeyInfo,
  now: Date,
) {
  return {
    id: newId(deps.random, 'req') as RequestId,
    packageId: original.packageId,
    systemId: device.systemId,
    componentId: device.componentId,
    deviceId: device.deviceId,
    deviceLabel: device.label,
    hardwareSerial: original.hardwareSerial,
    firmwareVersion: original.firmwareVersion,
    nonce: arrived.nonce,
    contentHash: arrived.contentHash,
    raw: arrived.raw,
    publicKeyFingerprint: publicKeyFingerprint(newKey),
    keyAlgorithm: describePublicKey(newKey),
    mock: device.mock,
    transport: 'connected' as const,
    createdAt: now,
    submittedBy: null,
    decidedBy: null,
    decisionReason: null,
  };
}

async function answeredRenewal(deps: Pick<ServiceDeps, 'store'>, contentHash: string, deviceId: DeviceIdText): Promise<RenewalResult | null> {
  const existing = await deps.store.findRequestByContentHash(contentHash);
  if (!existing) return null;
  if (existing.kind !== 'renewal' || existing.deviceId !== deviceId) {
    throw new ServiceError('request_replayed', 'this renewal request was already submitted for another device or as another kind of request');
  }
  const [certificate, profile] = await Promise.all([deps.store.findCertificateByRequest(existing.id), deps.store.findProfile(existing.id)]);
  if (!certificate || !profile) throw new ServiceError('profile_not_found', `renewal ${existing.id} has no certificate or profile`);
  return { request: existing, certificate, profile: profile.content, created: false };
}

export interface PendingRenewal {
  readonly deviceId: DeviceIdText;
  readonly serial: SerialNumber;
  readonly record: CertificateRecord;
  readonly request: RequestRecord;
  readonly device: DeviceRecord;
  /** The device's current certificate, which the renewal replaces. */
  readonly previous: CertificateRecord | null;
}

/**
 * Whether `presented` is the certificate of a renewal the device has not confirmed yet: active,
 * valid now, issued for a renewal request newer than the device's current identity, for a
 * provisioned device. Null otherwise (the caller's usual checks apply). Reads only.
 */
export async function findPendingRenewal(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority'>,
  presented: readonly Buffer[],
): Promise<PendingRenewal | null> {
  const [leafDer] = presented;
  if (!leafDer || leafDer.length === 0) return null;
  const leaf = parseCertificate(leafDer);
  const record = await deps.store.findCertificate(deps.authority.issuerFingerprint, leaf.serial);
  if (!record || record.kind !== 'device' || record.status !== 'active' || !record.deviceId || !record.requestId || !record.der.equals(leaf.der)) return null;
  const [request, device] = await Promise.all([deps.store.findRequest(record.requestId), deps.store.findDevice(record.deviceId)]);
  if ((request?.kind !== 'renewal' && request?.kind !== 'reprovision') || !device || device.state !== 'provisioned' || device.currentRequestId === request.id) return null;
  verifyChain({ leaf, intermediates: [deps.authority.intermediate], roots: [deps.authority.root], at: deps.clock.now(), requiredExtKeyUsage: OID.kpClientAuth });
  const previous = await deps.store.findCertificateByRequest(device.currentRequestId);
  // Only a renewal made after the current identity may replace it (an older one was superseded).
  if (previous && previous.createdAt.getTime() > request.createdAt.getTime()) return null;
  return { deviceId: device.deviceId, serial: record.serial, record, request, device, previous };
}

/**
 * The device confirms (POST /api/v1/device/confirm) with the certificate of a renewal it has just
 * installed: that certificate becomes its current one. After a re-key the previous certificate
 * (and any other still active for the old key) is revoked (superseded) and a CRL published in the same transaction: the old key may now be
 * discarded, and nothing should still accept it. After a same-key renewal the previous certificate
 * is left to expire: it certifies the same key, so revoking it protects nothing.
 * Returns the certificates it revoked.
 */
export async function installRenewal(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority' | 'revocation'>,
  pending: PendingRenewal,
): Promise<readonly CertificateRecord[]> {
  const { device, request, record, previous } = pending;
  const now = deps.clock.now();
  const rekey = previous ? publicKeyFingerprint(parseCertificate(previous.der).publicKey) !== publicKeyFingerprint(parseCertificate(record.der).publicKey) : false;

  const revoked = await deps.store.transaction(async (tx) => {
    if (!(await tx.transitionDevice(device.deviceId, ['provisioned'], 'provisioned', now, { currentRequestId: request.id }))) {
      throw new ServiceError('device_not_provisioned', `device "${device.deviceId}" changed state concurrently; retry`);
    }
    // Every other active certificate of the device certifies an old key (the previous one, and any
    // earlier same-key renewal of it): all are superseded by the new key.
    const others = rekey ? (await tx.listCertificatesForDevice(device.deviceId)).filter((c) => c.status === 'active' && c.serial !== record.serial && c.notAfter > now) : [];
    const superseded = await revokeCertificatesInTx(tx, others, { at: now, reason: 'superseded', actor: `device:${device.deviceId}` });
    const crl = superseded.length > 0 ? await publishCrl(tx, deps) : null;
    const answered = await clearAnsweredAsk(tx, request);
    await tx.appendAudit({
      at: now,
      actor: `device:${device.deviceId}`,
      action: 'certificate.install',
      targetType: 'device',
      targetId: device.deviceId,
      details: {
        requestId: request.id,
        serial: record.serial,
        sha256: fingerprint(record.der),
        ...(previous ? { previousSerial: previous.serial, previousRevoked: superseded.length > 0 } : {}),
        ...(crl ? { crlNumber: crl.crlNumber } : {}),
        ...(answered ? { reprovisionRequest: await askDetails(tx, answered) } : {}),
      },
    });
    return superseded;
  });
  if (revoked.length > 0) deps.revocation.revoked(revoked.map((c) => c.serial));
  return revoked;
}

/**
 * Reprovisioning (docs/lifecycle.md): a provisioned device asks, with its current certificate over
 * mutual TLS and a renewal-format request of audience `provisio-reprovision`, for a fresh
 * certified profile with its current identity. Unlike a renewal it goes through the component's
 * approval policy: manual (the default) waits for an approver, automatic approves at once. The
 * device keeps its current certificate meanwhile; the new one becomes current when the device
 * confirms it (installRenewal). Resubmitting the same request returns the same request.
 */
export async function reprovisionDevice(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'decisions'>,
  input: { presented: readonly Buffer[]; request: unknown },
): Promise<{ request: RequestRecord; created: boolean }> {
  const { leaf, device, component } = await authenticateRenewingDevice(deps, input.presented);
  const parsed = parseRenewalRequest(input.request);
  const existing = await deps.store.findRequestByContentHash(parsed.contentHash);
  if (existing) {
    if (existing.kind !== 'reprovision' || existing.deviceId !== device.deviceId) {
      throw new ServiceError('request_replayed', 'this reprovisioning request was already submitted for another device or as another kind of request');
    }
    return { request: await finishApproval(deps, existing, device), created: false };
  }
  const now = deps.clock.now();
  verifyRenewalRequest(parsed, leaf.publicKey, { deviceId: device.deviceId, serial: leaf.serial, at: now, aud: REPROVISION_AUDIENCE });
  checkRequestedSubjectAltNames(parsed.csr, deviceSubjectAltName({ deviceId: device.deviceId, deviceLabel: device.label }));
  const newKey = parsed.csr.publicKey;
  const keyType = keyTypeOf(newKey);
  if (!keyType || !component.keyTypes.includes(keyType)) {
    throw new ServiceError('key_type_not_allowed', `component "${component.name}" allows ${component.keyTypes.join(', ')} keys; the request carries ${describePublicKey(newKey)}`);
  }
  // Key policy now, so a request that would be refused at approval is not stored to wait.
  await checkKeyPolicy(deps.store, deps.authority, newKey, { kind: 'device', deviceId: device.deviceId, refuseOwnKeys: 'revoked' });
  const [system, original] = await Promise.all([deps.store.findSystemById(device.systemId), deps.store.findRequest(device.currentRequestId)]);
  if (!system || !original) throw new ServiceError('device_not_found', `the system or current request of device "${device.deviceId}" no longer exists`);
  const asked = device.reprovisionAsk ?? null;
  let verdict: PolicyVerdict;
  if (asked) {
    // A person already decided: the policy is not consulted (nor does this count towards maxPerHour).
    verdict = { decision: 'manual', rule: 'reprovisionRequested', reason: `reprovisioning asked for at ${asked.at.toISOString()}: approved on behalf of the person who asked` };
  } else {
    const policy = await effectivePolicy(deps, system, component);
    const countLastHour = policy?.mode === 'automatic' && policy.rules.maxPerHour !== undefined
      ? await deps.store.countAutoApprovals({ systemId: system.id, componentId: policy.componentId, since: new Date(now.getTime() - HOUR_MS) })
      : 0;
    verdict = evaluatePolicy(policy, { deviceId: device.deviceId, hardwareSerial: original.hardwareSerial, transport: 'connected', packageId: original.packageId }, countLastHour);
  }
  const request: RequestRecord = {
    ...followUpRequest(deps, device, original, { ...parsed, raw: Buffer.from(parsed.raw, 'utf8') }, newKey, now),
    state: 'pending',
    expiresAt: new Date(now.getTime() + REPROVISION_LIFETIME_MS),
    decidedAt: null,
    policy: verdict,
    kind: 'reprovision',
  };
  try {
    await deps.store.transaction(async (tx) => {
      await tx.insertRequest(request);
      await tx.appendAudit({
        at: now,
        actor: `device:${device.deviceId}`,
        action: 'request.submit',
        targetType: 'request',
        targetId: request.id,
        details: {
          deviceId: device.deviceId,
          kind: 'reprovision',
          system: system.name,
          component: component.name,
          transport: 'connected',
          serial: leaf.serial,
          publicKeySha256: request.publicKeyFingerprint,
          contentSha256: request.contentHash,
          policy: verdict,
        },
      });
    });
  } catch (e) {
    if (!(e instanceof StoreConflict)) throw e;
    const twin = await deps.store.findRequestByContentHash(parsed.contentHash);
    if (twin) return { request: twin, created: false };
    throw new ServiceError('request_replayed', 'the nonce of this reprovisioning request was used by another request; make a new one');
  }
  return { request: await finishApproval(deps, request, device), created: true };
}

/**
 * Approves a pending reprovisioning request made while an admin's ask is outstanding, as that
 * admin (decidedBy; the `request.approve` entry names them and carries the ask); any other
 * request goes on as the policy said (finishAutomaticApproval). A failed approval leaves the
 * request pending for an approver, and the store's answer is returned.
 */
async function finishApproval(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'decisions'>,
  request: RequestRecord,
  device: DeviceRecord,
): Promise<RequestRecord> {
  const ask = device.reprovisionAsk;
  if (request.state !== 'pending' || !ask || request.createdAt.getTime() < ask.at.getTime()) return finishAutomaticApproval(deps, request);
  const user = await deps.store.findUserById(ask.by);
  if (!user) return request;
  try {
    const details = await askDetails(deps.store, ask);
    return (await approveRequest(deps, { userId: user.id, username: user.username, role: user.role }, request.id, { reprovisionRequest: details })).request;
  } catch {
    return (await deps.store.findRequest(request.id)) ?? request;
  }
}
