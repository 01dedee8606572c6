/**
 * Signed audit checkpoints (docs/audit.md): a signature by the profile signer over
 * (seq, hash, at) pins the chain at that entry. Anyone holding the log and the signer's
 * certificate can later prove that entries up to seq were neither rewritten nor removed.
 */
import { OID, type ParsedCertificate, parseCertificate, type Signer, signatureAlgorithmFor, verifyChain, verifySignature } from '@provisio/pki';
import type { AuditCheckpoint, AuditEntry } from '../domain/model.js';
import { canonicalJson } from './audit-chain.js';

/** Names the statement so a checkpoint signature can never be mistaken for another signed object. */
export const CHECKPOINT_STATEMENT_TYPE = 'provisio.audit-checkpoint.v1';

/** The bytes signed: canonicalJson({ type, seq, hash, at (ISO 8601) }) in UTF-8. */
export function checkpointStatement(seq: number, hash: string, at: Date): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`checkpoint seq must be a positive integer, got ${seq}`);
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new RangeError('checkpoint hash must be 64 lowercase hex digits (SHA-256)');
  if (Number.isNaN(at.getTime())) throw new RangeError('checkpoint time is not a valid Date');
  return Buffer.from(canonicalJson({ type: CHECKPOINT_STATEMENT_TYPE, seq, hash, at: at.toISOString() }), 'utf8');
}

/**
 * Signs a checkpoint at `entry`. `signerCertificate` (DER) must hold the signer's public key:
 * a mismatch would produce checkpoints nobody can verify, so it is refused here.
 */
export async function signCheckpoint(
  entry: Pick<AuditEntry, 'seq' | 'hash'>,
  signer: Signer,
  signerCertificate: Buffer,
  at: Date,
): Promise<AuditCheckpoint> {
  const certificate = parseCertificate(signerCertificate);
  if (!certificate.publicKey.spki.equals(signer.publicKey.spki)) {
    throw new Error('signCheckpoint: the signer certificate does not hold the signer\'s public key');
  }
  const signature = await signer.sign(checkpointStatement(entry.seq, entry.hash, at));
  return { seq: entry.seq, hash: entry.hash, at, signature, signerCertificate: Buffer.from(signerCertificate) };
}

/**
 * Verifies the checkpoint's signature with the key in its signerCertificate. Whether that
 * certificate is one the verifier trusts (chains to the CA, has the profile-signer purpose) is
 * the caller's job. Never throws: anything malformed is simply not valid.
 */
export function verifyCheckpointSignature(checkpoint: AuditCheckpoint): boolean {
  try {
    const certificate = parseCertificate(checkpoint.signerCertificate);
    const statement = checkpointStatement(checkpoint.seq, checkpoint.hash, checkpoint.at);
    return verifySignature(signatureAlgorithmFor(certificate.publicKey), certificate.publicKey, statement, checkpoint.signature);
  } catch {
    return false;
  }
}

/**
 * A checkpoint verifier that also requires the signer to be this service's profile signer: its
 * certificate chains to `root` through `intermediates` with the profile-signing purpose, valid
 * when the checkpoint was made. A checkpoint signed by any other key is refused.
 */
export function trustedCheckpointVerifier(root: ParsedCertificate, intermediates: readonly ParsedCertificate[]): (checkpoint: AuditCheckpoint) => boolean {
  return (checkpoint) => {
    if (!verifyCheckpointSignature(checkpoint)) return false;
    try {
      verifyChain({ leaf: parseCertificate(checkpoint.signerCertificate), intermediates, roots: [root], at: checkpoint.at, requiredExtKeyUsage: OID.kpProvisioProfileSigning });
      return true;
    } catch {
      return false;
    }
  };
}
