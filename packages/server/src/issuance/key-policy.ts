/**
 * Key policy, run by the issuing pipeline for every key it certifies, and at intake for requests
 * that wait for an approver (docs/service.md "Key policy", decisions D26, D27). One key, one
 * identity: a key is refused, in this order, when it is
 *
 *   weak              an RSA modulus with a prime factor below 1000 (pki assertKeyNotWeak);
 *                     shorter than 2048 bits or an exponent other than 65537 never even parses
 *   a CA's            the root's or the issuing CA's key                  key_is_ca_key
 *   the device's own  a device's earlier key its method refuses: any for a device provisioned
 *                     again after a revocation, a revoked certificate's for a renewal or
 *                     reprovisioning                                      device_key_revoked
 *   blocked           revoked for keyCompromise, whoever held it          key_blocked
 *   someone else's    certified for another device, a gateway, a package, or the service's own
 *                     TLS, OCSP responder or profile signer certificate   key_in_use
 *
 * The device's own history is checked before the blocked list so that a revoked device coming
 * back with its compromised key keeps its own, more telling, answer.
 */
import { type PublicKeyInfo, assertKeyNotWeak, publicKeyFingerprint } from '@provisio/pki';
import type { IssuingAuthority } from '../domain/deps.js';
import { ServiceError } from '../domain/errors.js';
import type { CertificateRecord } from '../domain/model.js';
import type { StoreTx } from '../domain/store.js';
import type { KeyOwner } from './method.js';

export type KeyPolicyReader = Pick<StoreTx, 'findCertificatesByPublicKey' | 'findBlockedKey'>;

function isOwn(certificate: CertificateRecord, owner: KeyOwner): boolean {
  return owner.kind === 'device' && certificate.kind === 'device' && certificate.deviceId === owner.deviceId;
}

export async function checkKeyPolicy(
  reader: KeyPolicyReader,
  authority: Pick<IssuingAuthority, 'root' | 'intermediate'>,
  key: PublicKeyInfo,
  owner: KeyOwner,
): Promise<void> {
  assertKeyNotWeak(key);
  const keySha256 = publicKeyFingerprint(key);
  for (const [ca, name] of [[authority.root, 'root CA'], [authority.intermediate, 'issuing CA']] as const) {
    if (publicKeyFingerprint(ca.publicKey) === keySha256) {
      throw new ServiceError('key_is_ca_key', `the key to be certified is the ${name}'s own key; a CA key is never certified for anything else — make a new key`);
    }
  }
  const certified = await reader.findCertificatesByPublicKey(keySha256);
  if (owner.kind === 'device') {
    const own = certified.filter((c) => isOwn(c, owner));
    const burnt = owner.refuseOwnKeys === 'all' ? own[0] : own.find((c) => c.status === 'revoked');
    if (burnt) {
      throw new ServiceError(
        'device_key_revoked',
        `device "${owner.deviceId}" had this key certified by certificate ${burnt.serial}${burnt.status === 'revoked' ? `, revoked (${burnt.revocationReason})` : ''}; after a revocation the old key may be someone else's too — make a new key`,
      );
    }
  }
  const blocked = await reader.findBlockedKey(keySha256);
  if (blocked) {
    throw new ServiceError('key_blocked', `this key's certificate ${blocked.serial} was revoked for keyCompromise at ${blocked.blockedAt.toISOString()}; a compromised key is never certified again — make a new key`);
  }
  const other = certified.find((c) => !isOwn(c, owner));
  if (other) {
    // The other holder's kind only: a device must not learn another device's id from a refusal.
    throw new ServiceError('key_in_use', `this key is already certified for another identity (a ${other.kind} certificate); one key serves one identity — make a new key`);
  }
}
