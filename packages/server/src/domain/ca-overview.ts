/**
 * The certificate authority as an operator sees it (docs/web.md "CA"): the hierarchy the service
 * uses — root, issuing CA, profile signer, OCSP responder — and the newest CRL. Reads only.
 */
import { type ParsedCertificate, parseCertificate } from '@provisio/pki';
import type { ServiceDeps } from './deps.js';
import type { CrlRecord } from './model.js';

export interface CaOverview {
  readonly root: ParsedCertificate;
  readonly intermediate: ParsedCertificate;
  readonly profileSigner: ParsedCertificate | null;
  readonly ocspResponder: ParsedCertificate;
  readonly crl: CrlRecord | null;
  readonly crlUrl: string | null;
  readonly ocspUrl: string | null;
}

export async function describeCa(deps: Pick<ServiceDeps, 'authority' | 'store' | 'urls'>): Promise<CaOverview> {
  const signer = deps.authority.profileSignerChain[0];
  return {
    root: deps.authority.root,
    intermediate: deps.authority.intermediate,
    profileSigner: signer ? parseCertificate(signer) : null,
    ocspResponder: deps.authority.ocspResponder.certificate,
    crl: await deps.store.findCrl(deps.authority.issuerFingerprint),
    crlUrl: deps.urls.crlUrl,
    ocspUrl: deps.urls.ocspUrl,
  };
}
