/**
 * Provisioning requests: intake (every check before anything is stored), approval (certificate +
 * certified profile recorded in the same transaction that marks the request approved), rejection.
 */
import { describePublicKey, keyTypeOf, parseCsr, type PublicKeyInfo, publicKeyFingerprint } from '@provisio/pki';
import { ProtocolError, parseProvisioningRequest, parseRenewalRequest, verifyProvisioningRequest } from '@provisio/protocol';
import { type Actor, type ServiceDeps, actorName, newId } from './deps.js';
import { ServiceError } from './errors.js';
import type { ApprovalPolicyRecord, CertificateRecord, DeviceIdText, DeviceRecord, GatewayRecord, PackageId, PolicyVerdict, RequestId, RequestRecord, Transport, UserId } from './model.js';
import { checkApproval } from './approval-checks.js';
import { effectivePolicy, evaluatePolicy } from './approval-policy.js';
import { checkReentry } from './revocation.js';
import { StoreConflict, type StoreTx } from './store.js';
import { askDetails, clearAnsweredAsk } from './reprovision-ask.js';
import { issueCertificate } from '../issuance/issue-certificate.js';
import { bootstrapPackageMethod, reprovisioningMethod } from '../issuance/methods/device.js';
import { methodForEnrollment } from '../issuance/methods/enrollment-secret.js';
import { checkKeyPolicy } from '../issuance/key-policy.js';
import { HOUR_MS } from '../issuance/validity.js';
import { isPkcs10Request, parseCertReqMsg } from '../protocols/cmp-message.js';

/** An approval made by an approval policy, not by a user: decidedBy stays null (docs/service.md). */
export interface PolicyApproval {
  readonly policy: ApprovalPolicyRecord;
  readonly verdict: PolicyVerdict;
}

/** The policy's cap per hour was reached by a concurrent intake between evaluation and approval. */
class PolicyCapReached extends Error {
  constructor(readonly count: number, readonly max: number) {
    super(`${count} automatic approvals in the last hour reached the cap of ${max}`);
  }
}

export interface SubmitResult {
  readonly request: RequestRecord;
  /** False when an identical request was submitted before (idempotent resubmission). */
  readonly created: boolean;
}

/**
 * Accepts a provisioning request file. Order: structure, idempotency, signatures and expiry,
 * package, system, component, key template, mock policy, nonce replay, device id. Nothing is
 * written unless every check passes.
 */
export async function submitRequest(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'decisions'>,
  actor: Actor | null,
  input: {
    raw: Buffer;
    transport: Transport;
    /** false: skip the approval policy (mock devices are approved by their maker). */
    applyPolicy?: boolean;
    /** The proxy gateway that carried it (transport 'proxy'). */
    gateway?: GatewayRecord;
  },
): Promise<SubmitResult> {
  const pr = parseProvisioningRequest(input.raw);
  const existing = await deps.store.findRequestByContentHash(pr.contentHash);
  if (existing) return { request: input.applyPolicy === false ? existing : await finishAutomaticApproval(deps, existing), created: false };

  const now = deps.clock.now();
  verifyProvisioningRequest(pr, { at: now, roots: [deps.authority.root], intermediates: [deps.authority.intermediate] });
  const p = pr.payload;

  const pkg = await deps.store.findPackage(p.packageId as PackageId);
  const bootstrap = pr.bootstrapChain[0];
  if (!pkg || !bootstrap || pkg.bootstrapFingerprint !== bootstrap.fingerprint) {
    throw new ServiceError('package_mismatch', `the request's bootstrap credential does not belong to package "${p.packageId}"`);
  }
  if (pkg.status === 'revoked') {
    throw new ServiceError('package_revoked', `package ${pkg.id} was revoked at ${pkg.revokedAt?.toISOString()}; its requests are refused — make requests with a current package`);
  }
  if (now >= pkg.expiresAt) {
    throw new ProtocolError('package_expired', `package ${pkg.id} expired at ${pkg.expiresAt.toISOString()}; make requests with a current package`);
  }
  // The package says how long its requests live (the device sets expiresAt from it); a longer one
  // was not made by a device following the package, and would wait for approval too long (D29).
  if (pr.expiresAt.getTime() - pr.createdAt.getTime() > pkg.requestLifetimeSeconds * 1000) {
    throw new ServiceError(
      'request_lifetime_exceeded',
      `the request lives from ${p.createdAt} to ${p.expiresAt}, longer than the ${pkg.requestLifetimeSeconds} s package ${pkg.id} allows; make a new request with "provisio device init"`,
    );
  }
  const system = await deps.store.findSystemById(pkg.systemId);
  if (!system || system.name !== p.system) {
    throw new ServiceError('package_mismatch', `the request names system "${p.system}" but was signed with a package of system "${system?.name}"`);
  }
  const component = await deps.store.findComponent(system.id, p.component);
  if (!component) throw new ServiceError('component_not_found', `system "${system.name}" has no component "${p.component}"`);
  const keyType = keyTypeOf(pr.csr.publicKey);
  if (!keyType || !component.keyTypes.includes(keyType)) {
    throw new ServiceError(
      'key_type_not_allowed',
      `component "${component.name}" allows ${component.keyTypes.join(', ')} keys; the request carries ${describePublicKey(pr.csr.publicKey)}`,
    );
  }
  if (p.mock && !system.allowMock) throw new ServiceError('mock_not_allowed', `system "${system.name}" does not accept mock devices`);
  if (await deps.store.findRequestByNonce(pkg.id, p.nonce)) {
    throw new ServiceError('request_replayed', `another request with the same nonce was already submitted with package ${pkg.id}: refused as a replay`);
  }
  const deviceId = p.deviceId as DeviceIdText;
  const device = await deps.store.findDevice(deviceId);
  if (device && device.state !== 'rejected' && device.state !== 'revoked') {
    throw new ServiceError('device_exists', `device "${deviceId}" already exists (state ${device.state}); reprovisioning a known device is not allowed for this system`);
  }
  // Key policy now, so a request that would be refused at approval is not stored to wait; the
  // issuing pipeline checks again when it issues (something may have changed meanwhile).
  await checkKeyPolicy(deps.store, deps.authority, pr.csr.publicKey, { kind: 'device', deviceId, refuseOwnKeys: 'all' });
  // A revoked device may re-key and re-enter approval (docs/service.md "Revocation").
  const revokedFor = device ? await checkReentry(deps, device) : null;

  // The approval policy (component's, else system's): evaluated before anything is written, so
  // the verdict is stored with the request; an automatic approval follows the intake below. A
  // revoked device's return is never approved automatically: an approver decides.
  const policy = input.applyPolicy === false || revokedFor !== null ? null : await effectivePolicy(deps, system, component);
  const countLastHour = policy?.mode === 'automatic' && policy.rules.maxPerHour !== undefined
    ? await deps.store.countAutoApprovals({ systemId: system.id, componentId: policy.componentId, since: new Date(now.getTime() - HOUR_MS) })
    : 0;
  const verdict: PolicyVerdict = revokedFor !== null
    ? { decision: 'manual', rule: 'reentry', reason: `device ${deviceId} was revoked (${revokedFor}); its return with a new key needs an approver` }
    : evaluatePolicy(policy, { deviceId, hardwareSerial: p.hardwareSerial, transport: input.transport, packageId: pkg.id }, countLastHour);

  const request: RequestRecord = {
    id: newId(deps.random, 'req') as RequestId,
    packageId: pkg.id,
    systemId: system.id,
    componentId: component.id,
    deviceId,
    deviceLabel: p.deviceLabel,
    hardwareSerial: p.hardwareSerial,
    firmwareVersion: p.firmwareVersion,
    nonce: p.nonce,
    contentHash: pr.contentHash,
    raw: pr.raw,
    publicKeyFingerprint: publicKeyFingerprint(pr.csr.publicKey),
    keyAlgorithm: describePublicKey(pr.csr.publicKey),
    mock: p.mock,
    transport: input.transport,
    state: 'pending',
    createdAt: now,
    expiresAt: pr.expiresAt,
    submittedBy: actor?.userId ?? null,
    decidedAt: null,
    decidedBy: null,
    decisionReason: null,
    policy: verdict,
    ...(input.gateway ? { gatewayId: input.gateway.id } : {}),
  };
  try {
    await deps.store.transaction(async (tx) => {
      await insertPendingRequest(tx, request, device, { label: p.deviceLabel, mock: p.mock });
      await tx.appendAudit({
        at: now,
        actor: actor ? actorName(actor) : `device:${deviceId}`,
        action: 'request.submit',
        targetType: 'request',
        targetId: request.id,
        details: {
          deviceId,
          system: system.name,
          component: component.name,
          packageId: pkg.id,
          transport: input.transport,
          ...(input.gateway ? { gateway: input.gateway.name } : {}),
          publicKeySha256: request.publicKeyFingerprint,
          contentSha256: request.contentHash,
          policy: { ...verdict, ...(policy ? { scope: policy.componentId ? `${system.name}/${component.name}` : system.name } : {}) },
          ...(revokedFor !== null && device ? { reentry: { previousState: device.state, revocationReason: revokedFor } } : {}),
        },
      });
    });
  } catch (e) {
    if (!(e instanceof StoreConflict)) throw e;
    // A concurrent twin won the race: same content is the same request; anything else is refused.
    const twin = await deps.store.findRequestByContentHash(pr.contentHash);
    if (twin) return { request: twin, created: false };
    if (e.constraint.includes('nonce')) throw new ServiceError('request_replayed', `the nonce of this request was used by another request`);
    throw new ServiceError('device_exists', `device "${deviceId}" already exists`);
  }
  if (verdict.decision === 'approve' && policy) {
    try {
      const { request: approved } = await approveRequest(deps, { policy, verdict }, request.id);
      return { request: approved, created: true };
    } catch (e) {
      // Accepted but not approved automatically: it waits for an approver, saying why.
      const failed: PolicyVerdict = e instanceof PolicyCapReached
        ? { decision: 'manual', rule: 'maxPerHour', reason: `rule maxPerHour did not match: ${e.message}` }
        : { decision: 'manual', rule: 'approval', reason: `automatic approval failed: ${(e as Error).message}` };
      await deps.store.transaction(async (tx) => {
        await tx.setRequestPolicyVerdict(request.id, failed);
        await tx.appendAudit({ at: deps.clock.now(), actor: 'system', action: 'request.policy', targetType: 'request', targetId: request.id, details: { deviceId, ...failed } });
      });
      return { request: (await deps.store.findRequest(request.id)) ?? { ...request, policy: failed }, created: true };
    }
  }
  return { request, created: true };
}

/**
 * Stores a new provisioning request and puts its device in `pending`: a known device (rejected or
 * revoked before, checked by the caller) by compare-and-set, a new one as a new row.
 */
export async function insertPendingRequest(
  tx: StoreTx,
  request: RequestRecord,
  device: DeviceRecord | null,
  newDevice: { readonly label: string; readonly mock: boolean },
): Promise<void> {
  const now = request.createdAt;
  await tx.insertRequest(request);
  if (device) {
    if (!(await tx.transitionDevice(request.deviceId, [device.state], 'pending', now, { currentRequestId: request.id }))) {
      throw new ServiceError('device_exists', `device "${request.deviceId}" changed state concurrently; retry`);
    }
    return;
  }
  await tx.insertDevice({
    deviceId: request.deviceId,
    systemId: request.systemId,
    componentId: request.componentId,
    label: newDevice.label,
    state: 'pending',
    mock: newDevice.mock,
    currentRequestId: request.id,
    createdAt: now,
    updatedAt: now,
    provisionedAt: null,
    lastSeen: null,
    reprovisionAsk: null,
    pendingRequest: { id: request.id, kind: 'provision', expiresAt: request.expiresAt },
  });
}

/**
 * Intake and the automatic approval are two transactions: a crash between them leaves a request
 * pending with the verdict "approve". The device's next call (its resubmission, or its poll for
 * the profile) finishes that approval here; the compare-and-set in approveRequest makes a
 * concurrent twin harmless. Any other request is returned as it is.
 */
export async function finishAutomaticApproval(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'decisions'>,
  request: RequestRecord,
): Promise<RequestRecord> {
  if (request.state !== 'pending' || request.policy?.decision !== 'approve') return request;
  const [system, component] = await Promise.all([deps.store.findSystemById(request.systemId), deps.store.findComponentById(request.componentId)]);
  const policy = system && component ? await effectivePolicy(deps, system, component) : null;
  // The policy changed since intake (now manual, or gone): an approver decides.
  if (policy?.mode !== 'automatic') return request;
  try {
    return (await approveRequest(deps, { policy, verdict: request.policy }, request.id)).request;
  } catch {
    // Decided concurrently, expired or capped: whatever the store now holds is the answer.
    return (await deps.store.findRequest(request.id)) ?? request;
  }
}

export async function requireRequest(deps: Pick<ServiceDeps, 'store'>, id: RequestId): Promise<RequestRecord> {
  const request = await deps.store.findRequest(id);
  if (!request) throw new ServiceError('request_not_found', `no provisioning request has id "${id}"; list them with "provisio request list"`);
  return request;
}

export interface ApprovalResult {
  readonly request: RequestRecord;
  readonly certificate: CertificateRecord;
}

/**
 * Approves a pending request: the issuing pipeline (issuance/) makes the device certificate and
 * certified profile (method bootstrap-package, or reprovisioning) and records both, with the
 * approval's audit entry, in the same transaction that moves the request from pending to approved
 * (compare-and-set: concurrent approvals make one certificate).
 * That transaction first repeats the checks of approval-checks.ts (package, mock switch, key
 * types, device, expiry, approver, separation of duties); a refusal writes nothing.
 */
export async function approveRequest(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'decisions'>,
  actor: Actor | PolicyApproval,
  id: RequestId,
  /** More details for the `request.approve` entry (the reprovisioning ask it answers). */
  auditDetails: Readonly<Record<string, unknown>> = {},
): Promise<ApprovalResult> {
  const byPolicy = 'verdict' in actor ? actor : null;
  const userActor = 'verdict' in actor ? null : actor;
  const request = await requireRequest(deps, id);
  const now = deps.clock.now();
  if (request.state !== 'pending') throw new ServiceError('request_not_pending', `request ${id} is already ${request.state}`);
  // A reprovisioning carries a renewal-format request (lifecycle.ts): its CSR names the key.
  const publicKey = requestedPublicKey(request);

  const approved = await deps.store.transaction(async (tx) => {
    // What intake checked and may have changed while the request waited, read again in this
    // transaction at its own time (approval-checks.ts, D28).
    const { system, component } = await checkApproval(tx, { request, approver: userActor, publicKey, now: deps.clock.now() });
    if (byPolicy?.policy.rules.maxPerHour !== undefined) {
      // Counted again under the policy's row lock: concurrent intakes on any node respect the cap.
      const { policy } = byPolicy;
      const count = await tx.countAutoApprovals({ systemId: policy.systemId, componentId: policy.componentId, since: new Date(now.getTime() - HOUR_MS), lockPolicyId: policy.id });
      if (count >= (policy.rules.maxPerHour ?? 0)) throw new PolicyCapReached(count, policy.rules.maxPerHour ?? 0);
    }
    const won = await tx.decideRequest(id, { state: 'approved', at: now, by: userActor?.userId ?? null, reason: null });
    if (!won) throw new ServiceError('request_not_pending', `request ${id} was decided by someone else just now`);
    if (request.kind === 'reprovision') {
      // The device stays provisioned with its current certificate until it confirms the new one.
      // Compare-and-set: a device revoked since it asked (or concurrently) gets no certificate.
      if (!(await tx.transitionDevice(request.deviceId, ['provisioned'], 'provisioned', now))) {
        throw new ServiceError('device_not_provisioned', `device "${request.deviceId}" is no longer provisioned (revoked since it asked?); reject its reprovisioning request ${id} instead`);
      }
    } else {
      await tx.transitionDevice(request.deviceId, ['pending'], 'approved', now);
    }
    if (byPolicy) await tx.setRequestPolicyVerdict(id, byPolicy.verdict);
    const method = request.kind === 'reprovision' ? reprovisioningMethod : request.enrollment ? methodForEnrollment(request.enrollment.kind) : bootstrapPackageMethod;
    const { certificate } = await issueCertificate(tx, deps, {
      method,
      operation: request.kind === 'reprovision' ? 'renew' : 'sign',
      now,
      input: {
        deps,
        request,
        system,
        component,
        publicKey,
        now,
        audit: (issued) => ({
          at: now,
          actor: userActor ? actorName(userActor) : 'system',
          action: byPolicy ? 'request.auto_approve' : 'request.approve',
          targetType: 'request',
          targetId: request.id,
          details: {
            deviceId: request.deviceId,
            serial: issued.serial,
            certificateSha256: issued.fingerprint,
            notAfter: issued.notAfter.toISOString(),
            ...(byPolicy ? { policyId: byPolicy.policy.id, rule: byPolicy.verdict.rule, reason: byPolicy.verdict.reason } : {}),
            ...auditDetails,
          },
        }),
      },
    });
    const decided: RequestRecord = {
      ...request,
      state: 'approved',
      decidedAt: now,
      decidedBy: (userActor?.userId ?? null) as UserId | null,
      decisionReason: null,
      ...(byPolicy ? { policy: byPolicy.verdict } : {}),
    };
    return { request: decided, certificate };
  });
  deps.decisions?.decided(id);
  return approved;
}

/**
 * The key a request asks to certify: a reprovisioning carries a renewal-format request
 * (lifecycle.ts), a token's or pairing code's request its CSR, a package's request its file.
 */
export function requestedPublicKey(request: RequestRecord): PublicKeyInfo {
  if (request.kind === 'reprovision') return parseRenewalRequest(request.raw.toString('utf8')).csr.publicKey;
  // A CMP request keeps its CRMF CertReqMsg, a p10cr its CSR (docs/protocols.md); EST's is a CSR like a token's.
  if (request.protocol === 'cmp' && !isPkcs10Request(request.raw)) return parseCertReqMsg(request.raw).publicKey ?? parseCsr(request.raw).publicKey;
  if (request.enrollment) return parseCsr(request.raw).publicKey;
  return parseProvisioningRequest(request.raw).csr.publicKey;
}

export async function rejectRequest(deps: Pick<ServiceDeps, 'store' | 'clock' | 'decisions'>, actor: Actor, id: RequestId, reason: string): Promise<RequestRecord> {
  const request = await requireRequest(deps, id);
  const trimmed = reason.trim();
  if (trimmed.length === 0 || trimmed.length > 500) throw new ServiceError('validation_failed', 'a rejection needs a reason of 1 to 500 characters');
  if (request.state !== 'pending') throw new ServiceError('request_not_pending', `request ${id} is already ${request.state}`);
  const now = deps.clock.now();
  await deps.store.transaction(async (tx) => {
    if (!(await tx.decideRequest(id, { state: 'rejected', at: now, by: actor.userId, reason: trimmed }))) {
      throw new ServiceError('request_not_pending', `request ${id} was decided by someone else just now`);
    }
    // A rejected reprovisioning leaves the device as it was (provisioned, its certificate current).
    if (request.kind === undefined) await tx.transitionDevice(request.deviceId, ['pending'], 'rejected', now);
    const answered = await clearAnsweredAsk(tx, request);
    await tx.appendAudit({
      at: now,
      actor: actorName(actor),
      action: 'request.reject',
      targetType: 'request',
      targetId: id,
      details: { deviceId: request.deviceId, reason: trimmed, ...(answered ? { reprovisionRequest: await askDetails(tx, answered) } : {}) },
    });
  });
  deps.decisions?.decided(id);
  return { ...request, state: 'rejected', decidedAt: now, decidedBy: actor.userId, decisionReason: trimmed };
}

export async function getProfile(deps: Pick<ServiceDeps, 'store'>, id: RequestId): Promise<Buffer> {
  await requireRequest(deps, id);
  const profile = await deps.store.findProfile(id);
  if (!profile) throw new ServiceError('profile_not_found', `request ${id} has no certified profile; it must be approved first`);
  return profile.content;
}
