/**
 * Provisioning packages (seed 000): the bootstrap configuration of a system. Each package gets
 * its own bootstrap credential — a fresh key and a short-lived certificate that may sign
 * provisioning requests and nothing else. The private key leaves the service once, inside the
 * package file, and is never stored here: losing the database does not leak it, and revoking the
 * package (or letting it expire) ends its use.
 */
import { describeKeyObject, encodePem, exportPrivateKeyPem, generateKey, parseCertificate } from '@provisio/pki';
import { serializePackage } from '@provisio/protocol';
import { type Actor, type ServiceDeps, actorName, newId } from './deps.js';
import { ServiceError } from './errors.js';
import type { PackageId, PackageRecord, UserId } from './model.js';
import { publishCrl } from './crl.js';
import { parseEndEntityReason, revokeCertificatesInTx } from './revocation.js';
import { requireSystem } from './systems.js';
import { issueCertificate } from '../issuance/issue-certificate.js';
import { packageCredentialMethod } from '../issuance/methods/package-credential.js';
import { DEFAULT_PACKAGE_DAYS, MAX_PACKAGE_DAYS } from '../issuance/validity.js';

/** A request may wait this long on a USB stick before it must be made again. */
export const DEFAULT_REQUEST_LIFETIME_SECONDS = 7 * 86_400;

export interface CreatedPackage {
  readonly record: PackageRecord;
  /** The package file (JSON). Contains the bootstrap private key: write it 0600. */
  readonly fileText: string;
}

export async function createPackage(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls'>,
  actor: Actor,
  input: { system: string; days?: number; requestLifetimeSeconds?: number },
): Promise<CreatedPackage> {
  const system = await requireSystem(deps, input.system);
  const components = await deps.store.listComponents(system.id);
  if (components.length === 0) {
    throw new ServiceError('component_not_found', `system "${system.name}" has no components yet; create one with "provisio component create --system ${system.name} NAME"`);
  }
  const days = input.days ?? DEFAULT_PACKAGE_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > MAX_PACKAGE_DAYS) {
    throw new ServiceError('validation_failed', `package lifetime must be 1 to ${MAX_PACKAGE_DAYS} days; got ${days}`);
  }
  const requestLifetimeSeconds = input.requestLifetimeSeconds ?? DEFAULT_REQUEST_LIFETIME_SECONDS;
  if (!Number.isInteger(requestLifetimeSeconds) || requestLifetimeSeconds < 60 || requestLifetimeSeconds > days * 86_400) {
    throw new ServiceError('validation_failed', `request lifetime must be 60 s to the package lifetime; got ${requestLifetimeSeconds}`);
  }

  const now = deps.clock.now();
  const packageId = newId(deps.random, 'pkg') as PackageId;
  const key = await generateKey('p256');
  const { authority } = deps;
  // Recorded before the file is returned to anyone (security.md: nothing leaves without a record).
  const { record, issued } = await deps.store.transaction(async (tx) => {
    const issuance = await issueCertificate(tx, deps, {
      method: packageCredentialMethod,
      operation: 'sign',
      now,
      input: {
        packageId,
        system: system.name,
        days,
        publicKey: describeKeyObject(key.publicKey),
        audit: (certificate) => ({
          at: now,
          actor: actorName(actor),
          action: 'package.create',
          targetType: 'package',
          targetId: packageId,
          details: { system: system.name, bootstrapSerial: certificate.serial, bootstrapFingerprint: certificate.fingerprint, expiresAt: certificate.notAfter.toISOString() },
        }),
      },
    });
    const pkg: PackageRecord = {
      id: packageId,
      systemId: system.id,
      status: 'active',
      bootstrapCertificate: issuance.issued.der,
      bootstrapFingerprint: issuance.certificate.fingerprint,
      requestLifetimeSeconds,
      expiresAt: issuance.certificate.notAfter,
      createdAt: now,
      createdBy: actor.userId as UserId,
      revokedAt: null,
    };
    await tx.insertPackage(pkg);
    return { record: pkg, issued: issuance.issued };
  });
  const fileText = serializePackage({
    format: 'provisio.package',
    v: 1,
    packageId,
    system: system.name,
    components: components.map((c) => ({ name: c.name, keyTypes: [...c.keyTypes], validityDays: c.validityDays })),
    rootOfTrust: encodePem('CERTIFICATE', authority.root.der),
    serviceUrl: deps.urls.serviceUrl,
    requestLifetimeSeconds,
    keyTemplate: { defaultKeyType: components[0]?.keyTypes[0] ?? 'p256' },
    bootstrap: {
      certificateChain: encodePem('CERTIFICATE', issued.der) + encodePem('CERTIFICATE', authority.intermediate.der),
      privateKey: exportPrivateKeyPem(key.privateKey),
    },
    createdAt: now.toISOString(),
    expiresAt: record.expiresAt.toISOString(),
    notice: 'This file holds a bootstrap private key. Delete it from each device as soon as the device has made its provisioning request.',
  });
  return { record, fileText };
}

/**
 * Revokes a package: its requests are refused from now on (submitRequest), and its bootstrap
 * credential's certificate is revoked with `reasonText` (default unspecified) and listed in the
 * CRL published in the same transaction. Idempotent: a revoked package stays as it is.
 */
export async function revokePackage(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority' | 'revocation'>,
  actor: Actor,
  id: PackageId,
  reasonText = 'unspecified',
): Promise<PackageRecord> {
  const reason = parseEndEntityReason(reasonText);
  const existing = await deps.store.findPackage(id);
  if (!existing) throw new ServiceError('package_not_found', `no provisioning package has id "${id}"`);
  const now = deps.clock.now();
  const serials = await deps.store.transaction(async (tx) => {
    if (!(await tx.revokePackage(id, now))) return [];
    const bootstrap = parseCertificate(existing.bootstrapCertificate);
    const record = await tx.findCertificate(deps.authority.issuerFingerprint, bootstrap.serial);
    const revoked = record ? await revokeCertificatesInTx(tx, [record], { at: now, reason, actor: actorName(actor) }) : [];
    const crl = revoked.length > 0 ? await publishCrl(tx, deps) : null;
    await tx.appendAudit({
      at: now,
      actor: actorName(actor),
      action: 'package.revoke',
      targetType: 'package',
      targetId: id,
      details: { reason, bootstrapSerial: bootstrap.serial, bootstrapFingerprint: existing.bootstrapFingerprint, ...(crl ? { crlNumber: crl.crlNumber } : {}) },
    });
    return revoked.map((c) => c.serial);
  });
  if (serials.length > 0) deps.revocation.revoked(serials);
  const pkg = await deps.store.findPackage(id);
  if (!pkg) throw new ServiceError('package_not_found', `no provisioning package has id "${id}"`);
  return pkg;
}
