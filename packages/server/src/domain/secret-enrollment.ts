/**
 * A first provisioning request made with a one-time secret instead of a bootstrap package: an
 * enrollment token (enrollment-tokens.ts) or a pairing code (pairing-codes.ts). The device sends
 * its device id and a CSR (its key never leaves it); the caller passes a `redeem` step that
 * checks and spends the secret. Everything happens in ONE store transaction, so a refusal at any
 * step — the secret, the key, the device, the issuing pipeline — leaves the database as it was
 * and the secret unspent:
 *
 *   redeem the secret (its use audited) → key type, CSR names, device, key policy → the request
 *   and device stored (request.submit) → approved, when the secret counts as the approval (the
 *   system's enrollmentSecretApproves, D38) or the approval policy approves automatically →
 *   the issuing pipeline (method enrollment-token or pairing-code) → commit.
 *
 * Otherwise the request waits for an approver like any other (requests.ts approveRequest), and
 * the device polls GET /api/v1/device/requests/:id/profile.
 */
import {
  checkRequestedSubjectAltNames,
  describePublicKey,
  deviceSubjectAltName,
  keyTypeOf,
  type ParsedCsr,
  publicKeyFingerprint,
} from '@provisio/pki';
import { createHash } from 'node:crypto';
import { issueCertificate, type Issuance } from '../issuance/issue-certificate.js';
import { checkKeyPolicy } from '../issuance/key-policy.js';
import { methodForEnrollment } from '../issuance/methods/enrollment-secret.js';
import { HOUR_MS } from '../issuance/validity.js';
import { evaluatePolicy } from './approval-policy.js';
import { type ServiceDeps, newId } from './deps.js';
import { ServiceError } from './errors.js';
import type {
  ApprovalPolicyRecord,
  ComponentRecord,
  DeviceIdText,
  DeviceRecord,
  EnrollmentProtocol,
  EnrollmentSecretKind,
  PolicyVerdict,
  RequestId,
  RequestRecord,
  SystemRecord,
} from './model.js';
import { StoreConflict, type StoreTx } from './store.js';

/** What a redeemed secret binds the enrollment to. */
export interface RedeemedSecret {
  /** The token's or pairing record's id (never the secret). */
  readonly id: string;
  readonly system: SystemRecord;
  readonly component: ComponentRecord;
  /** The label to certify (the pairing record's; a token's enrollment brings its own). */
  readonly deviceLabel: string;
}

export interface SecretEnrollmentInput {
  readonly kind: EnrollmentSecretKind;
  readonly deviceId: DeviceIdText;
  /** A CSR whose proof of possession was verified (verifyCsr). */
  readonly csr: ParsedCsr;
  /** Checks and spends the secret inside the transaction, appending its own audit entry; throws to refuse. */
  readonly redeem: (tx: StoreTx, now: Date) => Promise<RedeemedSecret>;
  /** The standard enrollment protocol that carried it (EST simpleenroll; docs/protocols.md), recorded with the request. */
  readonly protocol?: EnrollmentProtocol;
  /** Runs in the same transaction once the request is stored, before any approval (a pairing code records it). */
  readonly afterRequest?: (tx: StoreTx, request: RequestRecord, now: Date) => Promise<void>;
}

export interface SecretEnrollmentResult {
  readonly request: RequestRecord;
  /** The certificate and certified profile when the request was approved in the same transaction. */
  readonly issuance: Issuance | null;
}

/** How long a request made this way waits for an approver (the secret itself was short-lived). */
export const SECRET_REQUEST_LIFETIME_MS = 7 * 24 * HOUR_MS;

export async function enrollWithSecret(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls' | 'decisions'>,
  input: SecretEnrollmentInput,
): Promise<SecretEnrollmentResult> {
  const { csr, deviceId, kind } = input;
  const now = deps.clock.now();
  const raw = Buffer.from(csr.der);
  try {
    const result = await deps.store.transaction(async (tx) => {
      const bound = await input.redeem(tx, now);
      const { system, component } = bound;
      const keyType = keyTypeOf(csr.publicKey);
      if (!keyType || !component.keyTypes.includes(keyType)) {
        throw new ServiceError('key_type_not_allowed', `component "${component.name}" allows ${component.keyTypes.join(', ')} keys; the CSR carries ${describePublicKey(csr.publicKey)}`);
      }
      // The certificate's names come from the record; a CSR may ask for nothing or exactly them (D29).
      checkRequestedSubjectAltNames(csr, deviceSubjectAltName({ deviceId, deviceLabel: bound.deviceLabel }));
      const device = await tx.findDevice(deviceId);
      if (device && device.state !== 'rejected' && device.state !== 'revoked') {
        throw new ServiceError('device_exists', `device "${deviceId}" already exists (state ${device.state}); a one-time secret enrolls a new device only`);
      }
      await checkKeyPolicy(tx, deps.authority, csr.publicKey, { kind: 'device', deviceId, refuseOwnKeys: 'all' });

      const { verdict, policy } = await decide(tx, { system, component, device, deviceId, kind, now });
      const request: RequestRecord = {
        id: newId(deps.random, 'req') as RequestId,
        packageId: null,
        systemId: system.id,
        componentId: component.id,
        deviceId,
        deviceLabel: bound.deviceLabel,
        hardwareSerial: null,
        firmwareVersion: null,
        nonce: Buffer.from(deps.random.bytes(16)).toString('base64url'),
        contentHash: createHash('sha256').update(raw).digest('hex'),
        raw,
        publicKeyFingerprint: publicKeyFingerprint(csr.publicKey),
        keyAlgorithm: describePublicKey(csr.publicKey),
        mock: false,
        transport: 'connected',
        state: 'pending',
        createdAt: now,
        expiresAt: new Date(now.getTime() + SECRET_REQUEST_LIFETIME_MS),
        submittedBy: null,
        decidedAt: null,
        decidedBy: null,
        decisionReason: null,
        policy: verdict,
        enrollment: { kind, id: bound.id },
        ...(input.protocol ? { protocol: input.protocol } : {}),
      };
      await tx.insertRequest(request);
      if (device) {
        if (!(await tx.transitionDevice(deviceId, [device.state], 'pending', now, { currentRequestId: request.id }))) {
          throw new ServiceError('device_exists', `device "${deviceId}" changed state concurrently; retry`);
        }
      } else {
        const record: DeviceRecord = {
          deviceId,
          systemId: system.id,
          componentId: component.id,
          label: bound.deviceLabel,
          state: 'pending',
          mock: false,
          currentRequestId: request.id,
          createdAt: now,
          updatedAt: now,
          provisionedAt: null,
          lastSeen: null,
          reprovisionAsk: null,
          pendingRequest: { id: request.id, kind: 'provision', expiresAt: request.expiresAt },
        };
        await tx.insertDevice(record);
      }
      await input.afterRequest?.(tx, request, now);
      await tx.appendAudit({
        at: now,
        actor: `device:${deviceId}`,
        action: 'request.submit',
        targetType: 'request',
        targetId: request.id,
        details: {
          deviceId,
          system: system.name,
          component: component.name,
          enrollment: { kind, id: bound.id },
          ...(input.protocol ? { protocol: input.protocol } : {}),
          transport: 'connected',
          publicKeySha256: request.publicKeyFingerprint,
          contentSha256: request.contentHash,
          policy: verdict,
        },
      });
      if (verdict.decision !== 'approve') return { request, issuance: null };

      if (!(await tx.decideRequest(request.id, { state: 'approved', at: now, by: null, reason: null }))) {
        throw new ServiceError('request_not_pending', `request ${request.id} was decided concurrently`);
      }
      await tx.transitionDevice(deviceId, ['pending'], 'approved', now);
      const issuance = await issueCertificate(tx, deps, {
        method: methodForEnrollment(kind),
        operation: 'sign',
        now,
        input: {
          deps,
          request,
          system,
          component,
          publicKey: csr.publicKey,
          now,
          audit: (issued) => ({
            at: now,
            actor: 'system',
            action: policy ? 'request.auto_approve' : 'request.approve',
            targetType: 'request',
            targetId: request.id,
            details: {
              deviceId,
              serial: issued.serial,
              certificateSha256: issued.fingerprint,
              notAfter: issued.notAfter.toISOString(),
              rule: verdict.rule,
              reason: verdict.reason,
              ...(policy ? { policyId: policy.id } : {}),
            },
          }),
        },
      });
      const approved: RequestRecord = { ...request, state: 'approved', decidedAt: now };
      return { request: approved, issuance };
    });
    if (result.issuance) deps.decisions?.decided(result.request.id);
    return result;
  } catch (e) {
    if (e instanceof StoreConflict) throw new ServiceError('device_exists', `device "${deviceId}" or this CSR was enrolled concurrently; a one-time secret enrolls one device`);
    throw e;
  }
}

/**
 * The approval: the secret itself when the system says so (never for a revoked device's return,
 * which an approver decides), else the approval policy as for any request, read in `tx`.
 */
async function decide(
  tx: StoreTx,
  facts: { system: SystemRecord; component: ComponentRecord; device: DeviceRecord | null; deviceId: DeviceIdText; kind: EnrollmentSecretKind; now: Date },
): Promise<{ verdict: PolicyVerdict; policy: ApprovalPolicyRecord | null }> {
  const { system, component, device, deviceId, kind, now } = facts;
  const secretName = kind === 'token' ? 'enrollment token' : 'pairing code';
  if (device?.state === 'revoked' || (device && (await tx.listCertificatesForDevice(deviceId)).some((c) => c.status === 'revoked'))) {
    return { verdict: { decision: 'manual', rule: 'reentry', reason: `device ${deviceId} was revoked; its return with a new key needs an approver` }, policy: null };
  }
  if (system.enrollmentSecretApproves) {
    return { verdict: { decision: 'approve', rule: 'enrollment-secret', reason: `a valid ${secretName} is the approval (system "${system.name}" says so)` }, policy: null };
  }
  const policy = (await tx.findApprovalPolicy(system.id, component.id)) ?? (await tx.findApprovalPolicy(system.id, null));
  const countLastHour = policy?.mode === 'automatic' && policy.rules.maxPerHour !== undefined
    ? await tx.countAutoApprovals({ systemId: system.id, componentId: policy.componentId, since: new Date(now.getTime() - HOUR_MS), lockPolicyId: policy.id })
    : 0;
  const verdict = evaluatePolicy(policy, { deviceId, hardwareSerial: null, transport: 'connected', packageId: null }, countLastHour);
  return { verdict, policy: verdict.decision === 'approve' ? policy : null };
}
