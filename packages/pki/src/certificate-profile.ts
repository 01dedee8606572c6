/**
 * What kind of certificate is being issued. Each kind fixes the CA flag, key usage and extended
 * key usage, so a caller can never ask for "a leaf with keyCertSign": those values are not
 * expressible here (security.md: names and flags only from approved data, never from a CSR).
 */
import type { KeyUsage } from './extensions.js';
import type { PublicKeyInfo } from './keys.js';
import { OID } from './oids.js';

export type CertificateProfile =
  | { readonly kind: 'root-ca'; readonly pathLength?: number }
  | { readonly kind: 'intermediate-ca'; readonly pathLength: number }
  | { readonly kind: 'device' }
  | { readonly kind: 'tls-server' }
  | { readonly kind: 'ocsp-responder' }
  /** A provisioning package's bootstrap credential (signs provisioning requests only). */
  | { readonly kind: 'bootstrap' }
  /** The service key that signs certified profiles (and audit checkpoints). */
  | { readonly kind: 'profile-signer' }
  /**
   * The SCEP registration authority (RFC 8894 §2.1, docs/protocols.md): an RSA key that signs
   * SCEP answers and receives the requests' content-encryption keys, so it carries
   * keyEncipherment besides digitalSignature (strict clients look for both).
   */
  | { readonly kind: 'scep-ra' }
  /**
   * A proxy gateway (docs/proxy.md): the same key serves HTTPS to devices (serverAuth, so devices
   * that trust only the package root accept it) and authenticates the gateway to the service over
   * mutual TLS (clientAuth). Its subjectAltName holds the hosts devices reach it by.
   */
  | { readonly kind: 'gateway' };

export function isCaProfile(
  p: CertificateProfile,
): p is Extract<CertificateProfile, { kind: 'root-ca' | 'intermediate-ca' }> {
  return p.kind === 'root-ca' || p.kind === 'intermediate-ca';
}

/**
 * RFC 5280 §4.2.1.3 and RFC 5480 §3: an EC key signs, it cannot encipher, so keyEncipherment
 * is only ever set on RSA leaves that may do TLS 1.2 RSA key exchange.
 */
export function keyUsageFor(profile: CertificateProfile, key: PublicKeyInfo): KeyUsage[] {
  if (isCaProfile(profile)) return ['digitalSignature', 'keyCertSign', 'cRLSign'];
  if (profile.kind === 'scep-ra') return ['digitalSignature', 'keyEncipherment'];
  if (profile.kind === 'ocsp-responder' || profile.kind === 'bootstrap' || profile.kind === 'profile-signer') {
    return ['digitalSignature'];
  }
  return key.algorithm === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
}

export function extKeyUsageFor(profile: CertificateProfile): string[] {
  switch (profile.kind) {
    case 'device':
      return [OID.kpClientAuth];
    case 'tls-server':
      return [OID.kpServerAuth];
    case 'gateway':
      return [OID.kpServerAuth, OID.kpClientAuth];
    case 'ocsp-responder':
      return [OID.kpOcspSigning];
    case 'bootstrap':
      return [OID.kpProvisioRequestSigning];
    case 'profile-signer':
      return [OID.kpProvisioProfileSigning];
    case 'scep-ra':
      return [OID.kpCmcRa];
    default:
      // CA certificates carry no EKU: constraining them is not widely honoured and breaks chains.
      return [];
  }
}
