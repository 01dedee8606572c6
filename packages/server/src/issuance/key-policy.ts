/**
 * Key policy, run by the issuing pipeline for every key it certifies (docs/service.md "Key
 * policy"): a key is certified for one identity only.
 */
import { type PublicKeyInfo, parseCertificate, publicKeyFingerprint } from '@provisio/pki';
import { ServiceError } from '../domain/errors.js';
import type { StoreTx } from '../domain/store.js';
import type { KeyOwner } from './method.js';

/**
 * Refuses `key` for `owner`: a device's own earlier key where its method says so
 * (device_key_revoked: after a revocation the old key may be someone else's too).
 */
export async function checkKeyPolicy(reader: Pick<StoreTx, 'listCertificatesForDevice'>, key: PublicKeyInfo, owner: KeyOwner): Promise<void> {
  if (owner.kind !== 'device') return;
  const keySha256 = publicKeyFingerprint(key);
  const own = (await reader.listCertificatesForDevice(owner.deviceId)).filter((c) => publicKeyFingerprint(parseCertificate(c.der).publicKey) === keySha256);
  const burnt = owner.refuseOwnKeys === 'all' ? own[0] : own.find((c) => c.status === 'revoked');
  if (burnt) {
    throw new ServiceError(
      'device_key_revoked',
      `device "${owner.deviceId}" had this key certified by certificate ${burnt.serial}${burnt.status === 'revoked' ? `, revoked (${burnt.revocationReason})` : ''}; make a new key`,
    );
  }
}
