/**
 * Path building and validation at a given time (RFC 5280 §6, the parts a device PKI uses):
 * signatures, validity, basicConstraints cA and pathLenConstraint, keyCertSign, name chaining,
 * unknown critical extensions, and optionally the leaf's extended key usage.
 * Revocation is checked by the caller (CRL/OCSP), which knows its freshness policy.
 */
import { isSelfIssued, type ParsedCertificate } from './certificate.js';
import { PkiError, type PkiErrorCode } from './errors.js';
import { UNDERSTOOD_EXTENSIONS } from './extensions.js';
import { formatName } from './name.js';
import { hasOid } from './oids.js';
import { verifySignature } from './signer.js';

export interface VerifyChainOptions {
  readonly leaf: ParsedCertificate;
  /** Untrusted certificates that may complete the path (sent by the peer). */
  readonly intermediates?: readonly ParsedCertificate[];
  /** Trust anchors. */
  readonly roots: readonly ParsedCertificate[];
  readonly at: Date;
  /** An EKU the leaf must carry, e.g. OID.kpClientAuth for a device. */
  readonly requiredExtKeyUsage?: string;
}

/** Deep enough for root → intermediate → sub-intermediate → leaf, shallow enough to bound work. */
export const MAX_PATH_LENGTH = 6;

/** The validated path, leaf first, trust anchor last. */
export type CertificatePath = readonly ParsedCertificate[];

function certName(c: ParsedCertificate): string {
  return `"${formatName(c.subject)}" (serial ${c.serial})`;
}

function isCandidateIssuer(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
  if (!child.issuer.der.equals(issuer.subject.der)) return false;
  const aki = child.decoded.authorityKeyId;
  const ski = issuer.decoded.subjectKeyId;
  return !aki || !ski || aki.equals(ski);
}

/** Checks one certificate on its own: time, critical extensions. */
function checkCertificate(cert: ParsedCertificate, at: Date): void {
  if (at < cert.notBefore) {
    throw new PkiError(
      'certificate_not_yet_valid',
      `${certName(cert)} is not valid until ${cert.notBefore.toISOString()}`,
    );
  }
  if (at > cert.notAfter) {
    throw new PkiError('certificate_expired', `${certName(cert)} expired at ${cert.notAfter.toISOString()}`);
  }
  for (const ext of cert.extensions) {
    if (ext.critical && !UNDERSTOOD_EXTENSIONS.has(ext.oid)) {
      throw new PkiError(
        'chain_unknown_critical_extension',
        `${certName(cert)} has critical extension ${ext.oid}, which is not processed`,
      );
    }
  }
}

/** Checks that `issuer` may issue `child`, `below` CA certificates sitting under it in the path. */
function checkIssuer(child: ParsedCertificate, issuer: ParsedCertificate, below: number): void {
  const bc = issuer.decoded.basicConstraints;
  if (!bc?.ca)
    throw new PkiError('chain_issuer_not_ca', `${certName(issuer)} is not a CA (basicConstraints cA is not TRUE)`);
  const ku = issuer.decoded.keyUsage;
  if (ku && !ku.has('keyCertSign')) {
    throw new PkiError('chain_issuer_not_ca', `${certName(issuer)} lacks keyCertSign in its key usage`);
  }
  if (bc.pathLength !== undefined && below > bc.pathLength) {
    throw new PkiError(
      'chain_path_length_exceeded',
      `${certName(issuer)} allows ${bc.pathLength} CA certificates below it; the path has ${below}`,
    );
  }
  if (!verifySignature(child.signatureAlgorithm, issuer.publicKey, child.tbs, child.signature)) {
    throw new PkiError('chain_signature_invalid', `${certName(child)} is not signed by ${certName(issuer)}`);
  }
}

/** Errors ranked so that the most informative failure is reported when every path fails. */
const RANK: Partial<Record<PkiErrorCode, number>> = { chain_untrusted: 0 };

export function verifyChain(options: VerifyChainOptions): CertificatePath {
  const { leaf, roots, at } = options;
  const pool = options.intermediates ?? [];
  checkCertificate(leaf, at);
  if (options.requiredExtKeyUsage) {
    if (!hasOid(leaf.decoded.extKeyUsage, options.requiredExtKeyUsage)) {
      throw new PkiError(
        'chain_purpose_invalid',
        `${certName(leaf)} lacks extended key usage ${options.requiredExtKeyUsage}`,
      );
    }
  }
  // A leaf that is itself a trust anchor is accepted as is (a pinned root).
  if (roots.some((r) => r.der.equals(leaf.der))) return [leaf];

  let best: PkiError = new PkiError('chain_untrusted', `no path from ${certName(leaf)} to a trusted root`);
  const consider = (e: unknown): void => {
    if (!(e instanceof PkiError)) throw e;
    if ((RANK[e.code] ?? 1) >= (RANK[best.code] ?? 1)) best = e;
  };

  // Depth-first search; `path` is leaf-first. `caBelow` counts non-self-issued CAs under the
  // candidate issuer (RFC 5280 §6.1.4 (l)).
  const search = (path: ParsedCertificate[], caBelow: number): CertificatePath | null => {
    const child = path[path.length - 1] as ParsedCertificate;
    if (path.length > MAX_PATH_LENGTH) return null;
    for (const root of roots) {
      if (!isCandidateIssuer(child, root)) continue;
      try {
        checkCertificate(root, at);
        checkIssuer(child, root, caBelow);
        return [...path, root];
      } catch (e) {
        consider(e);
      }
    }
    for (const candidate of pool) {
      if (path.includes(candidate) || !isCandidateIssuer(child, candidate)) continue;
      try {
        checkCertificate(candidate, at);
        checkIssuer(child, candidate, caBelow);
      } catch (e) {
        consider(e);
        continue;
      }
      const found = search([...path, candidate], caBelow + (isSelfIssued(candidate) ? 0 : 1));
      if (found) return found;
    }
    return null;
  };

  const found = search([leaf], 0);
  if (found) return found;
  throw best;
}
