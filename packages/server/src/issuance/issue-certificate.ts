/**
 * The issuing pipeline: the one way a certificate is made (docs/service.md "Issuance"). In this
 * order, each step refusing before the next runs:
 *
 *   1. method checks   the enrollment method authorizes the operation and answers sign options
 *   2. key policy      the key may be certified for this identity (key-policy.ts)
 *   3. template        the profile's certificate request, names from the template only
 *      and modifiers   a fresh serial, validity from now (validity.ts)
 *   4. validators      lifetime within the kind's maximum, a key type Provisio certifies
 *   5. lint            the TBSCertificate against its profile (pki lintCertificatePlan)
 *   6. sign            the issuing CA signs (pki createIssuer: lints again, encodes, signs)
 *   7. record          the certificate row, and the certified profile where there is one
 *   8. audit           the method's audit entry
 *   9. return
 *
 * It runs inside the caller's store transaction, the one that also writes the caller's state
 * change (a request approved, a gateway registered): the certificate, its record and its audit
 * entry commit together or not at all, and callers hand a certificate out only after that
 * transaction has committed, so nothing leaves that is not durable (security.md I1, I5).
 */
import { type CertificateRequest, type IssuedCertificate, lintCertificatePlan, publicKeyFingerprint } from '@provisio/pki';
import type { IssuingAuthority, ServiceDeps } from '../domain/deps.js';
import { newCertificateRecord } from '../domain/certificate-record.js';
import type { CertificateRecord } from '../domain/model.js';
import type { StoreTx } from '../domain/store.js';
import { checkKeyPolicy } from './key-policy.js';
import type { EnrollmentMethod, Operation } from './method.js';
import { certificateRequestFor } from './template.js';
import { validateCertificateRequest } from './validators.js';

/** What the pipeline needs of the issuing CA: no profile signer, no CRL (load-authority.ts has none yet at start). */
export type IssuanceAuthority = Pick<IssuingAuthority, 'root' | 'intermediate' | 'issuerFingerprint' | 'plan' | 'issue'>;

export interface Issuance {
  readonly certificate: CertificateRecord;
  readonly issued: IssuedCertificate;
  readonly request: CertificateRequest;
  /** The certified profile recorded with it (device certificates), exactly as signed. */
  readonly profile: Buffer | null;
}

export async function issueCertificate<Input>(
  tx: StoreTx,
  deps: Pick<ServiceDeps, 'random'> & { readonly authority: IssuanceAuthority },
  issuance: { readonly method: EnrollmentMethod<Input>; readonly operation: Operation; readonly input: Input; readonly now: Date },
): Promise<Issuance> {
  const { method, operation, input, now } = issuance;
  const { authority } = deps;
  const options = operation === 'sign' ? await method.authorizeSign(tx, input) : await method.authorizeRenew(tx, input);
  await checkKeyPolicy(tx, authority, options.publicKey, options.owner);
  const request = certificateRequestFor(options.template, options.publicKey, { random: deps.random, now, lifetimeDays: options.lifetimeDays });
  validateCertificateRequest(request, options);
  lintCertificatePlan(authority.plan(request));
  const issued = await authority.issue(request);
  const deviceId = options.owner.kind === 'device' ? options.owner.deviceId : undefined;
  const certificate = newCertificateRecord(issued, {
    issuerFingerprint: authority.issuerFingerprint,
    kind: options.template.kind,
    publicKeySha256: publicKeyFingerprint(request.publicKey),
    now,
    ...(deviceId ? { deviceId } : {}),
    ...(options.requestId ? { requestId: options.requestId } : {}),
  });
  await tx.insertCertificate(certificate);
  let profile: Buffer | null = null;
  if (options.certifiedProfile) {
    if (!deviceId || !options.requestId) throw new Error('a certified profile belongs to a device request');
    profile = Buffer.from(await options.certifiedProfile(issued), 'utf8');
    await tx.insertProfile({ requestId: options.requestId, deviceId, content: profile, createdAt: now });
  }
  await tx.appendAudit(options.audit(certificate, request));
  return { certificate, issued, request, profile };
}
