/**
 * The checks an approval repeats inside its own transaction (docs/decisions.md D28). Intake
 * checked the request once; while it waited, its package may have been revoked, its system may
 * have stopped accepting mock devices, its component may allow other key types, its device may
 * have been revoked, it may have expired, and its approver may have been disabled or demoted.
 * Each is read again here, in the transaction that writes the approval, so an approval never
 * rests on a fact that stopped being true before it committed. A refusal throws: the
 * transaction rolls back and the request stays pending.
 */
import { describePublicKey, keyTypeOf, type PublicKeyInfo } from '@provisio/pki';
import type { Actor } from './deps.js';
import { ServiceError } from './errors.js';
import type { ComponentRecord, RequestRecord, Role, SystemRecord, User } from './model.js';
import type { StoreTx } from './store.js';

/** The roles that may approve or reject a request (the routes declare the same). */
export const APPROVER_ROLES: readonly Role[] = ['admin', 'approver'];

export interface ApprovalFacts {
  readonly system: SystemRecord;
  readonly component: ComponentRecord;
}

/**
 * Checks, in `tx` at time `now`, that `request` may still be approved by `approver` (null: an
 * approval policy, which is not a person). `publicKey` is the key the request asks to certify.
 * Returns the system and component as the transaction reads them.
 */
export async function checkApproval(
  tx: StoreTx,
  input: { request: RequestRecord; approver: Actor | null; publicKey: PublicKeyInfo; now: Date },
): Promise<ApprovalFacts> {
  const { request, approver, now } = input;
  if (now >= request.expiresAt) {
    throw new ServiceError('request_expired', `request ${request.id} expired at ${request.expiresAt.toISOString()}; the device must make a new one with "provisio device init"`);
  }
  // Locked for share on PostgreSQL until this transaction ends: a revocation or a setting changed
  // concurrently either commits before these reads (and is seen) or waits for the approval.
  const rows = await tx.readApprovalRows({
    userId: approver?.userId ?? null,
    systemId: request.systemId,
    componentId: request.componentId,
    packageId: request.kind === undefined ? request.packageId : null,
  });
  if (approver) checkApprover(approver, rows.user);
  const { system, component } = rows;
  if (!system || !component) throw new ServiceError('component_not_found', `the system or component of request ${request.id} no longer exists`);

  // A provisioning request rests on its package (when a package made it) and on the system's mock switch; a
  // reprovisioning rests on the device's current certificate instead (checked by the device
  // transition in approveRequest), as at its intake.
  // A token's or pairing code's request has no package: the secret it was made with was checked
  // and spent at intake (one use), and nothing about it can change while the request waits.
  if (request.kind === undefined) {
    const pkg = rows.package;
    if (request.packageId !== null && !pkg) throw new ServiceError('package_not_found', `package ${request.packageId} of request ${request.id} no longer exists`);
    if (pkg && pkg.status === 'revoked') {
      throw new ServiceError('package_revoked', `package ${pkg.id} was revoked at ${pkg.revokedAt?.toISOString()} while request ${request.id} waited; its requests are refused — reject it`);
    }
    if (request.mock && !system.allowMock) {
      throw new ServiceError('mock_not_allowed', `system "${system.name}" stopped accepting mock devices while request ${request.id} waited; reject it`);
    }
    const device = await tx.findDevice(request.deviceId);
    if (!device || device.state !== 'pending' || device.currentRequestId !== request.id) {
      throw new ServiceError('request_not_pending', `device "${request.deviceId}" is ${device ? device.state : 'gone'} and no longer waits for request ${request.id}`);
    }
  }

  const keyType = keyTypeOf(input.publicKey);
  if (!keyType || !component.keyTypes.includes(keyType)) {
    throw new ServiceError(
      'key_type_not_allowed',
      `component "${component.name}" now allows ${component.keyTypes.join(', ')} keys; request ${request.id} carries ${describePublicKey(input.publicKey)} — reject it`,
    );
  }

  // Mock devices are made and approved by one admin in one step (domain/mock-devices.ts): their
  // keys never left the service, so there is no second person to ask.
  if (approver && system.separationOfDuties && !request.mock && request.submittedBy === approver.userId) {
    throw new ServiceError(
      'approver_is_submitter',
      `${approver.username} submitted request ${request.id} and may not approve it too: system "${system.name}" keeps separation of duties (another approver decides, or an admin turns it off with "provisio system update ${system.name} --separation-of-duties off")`,
    );
  }
  return { system, component };
}

/** The approver must still exist, be enabled and hold a role that approves. */
function checkApprover(approver: Actor, user: User | null): void {
  if (!user || user.disabledAt !== null) {
    throw new ServiceError('role_forbidden', `user ${approver.username} is ${user ? 'disabled' : 'gone'} and may not approve requests`);
  }
  if (!APPROVER_ROLES.includes(user.role)) {
    throw new ServiceError('role_forbidden', `user ${user.username} is now ${user.role}; only ${APPROVER_ROLES.join(', ')} may approve requests`);
  }
}
