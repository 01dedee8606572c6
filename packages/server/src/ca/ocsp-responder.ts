/**
 * The OCSP responder (RFC 6960, RFC 5019 profile; docs/service.md "OCSP"). It answers from the
 * store — good, revoked (time and reason) or unknown for a serial this issuing CA never issued,
 * never "good" for an unknown serial (CA/B BR §4.9.10) — signed by the delegated responder
 * certificate. Answers without a nonce are pre-signed and kept per serial until half their
 * validity has passed, then signed afresh; a revocation drops them at once. Every request still
 * reads the certificate's row, and a cached answer is used only while the stored status is the
 * one it states, so a revocation made by another server on the same database is answered at once
 * too. Whatever happens, the answer is an OCSP response: a request that cannot be parsed gets
 * malformedRequest, a lost database tryLater, a failure of ours internalError (RFC 6960 §2.3),
 * never an HTTP error page.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  type CertId,
  type CertStatus,
  type OcspResponder,
  type ParsedOcspRequest,
  PkiError,
  type SerialNumber,
  buildOcspErrorResponse,
  buildOcspResponse,
  certIdMatchesIssuer,
  parseOcspGetPath,
  parseOcspRequest,
  parseOcspResponse,
  verifyOcspResponse,
} from '@provisio/pki';
import type { ServiceDeps } from '../domain/deps.js';
import { DatabaseUnavailable } from '../domain/errors.js';
import type { CertificateRecord } from '../domain/model.js';

/** How long an answer is valid (nextUpdate - thisUpdate); it is re-signed after half of it. */
export const OCSP_VALIDITY_MS = 60 * 60_000;
/** The responder certificate is replaced this long before it expires (load-authority.ts renews it). */
const RENEW_RESPONDER_BEFORE_MS = 30 * 86_400_000;
/** Pre-signed answers kept; past this the oldest is dropped (memory stays bounded). */
const MAX_CACHED = 10_000;

export interface OcspAnswer {
  /** The OCSPResponse DER. */
  readonly der: Buffer;
  /**
   * For HTTP caching (RFC 5019 §6.2): set for a successful answer to a single-certificate request
   * without a nonce; null otherwise (errors, nonces, several certificates).
   */
  readonly cache: { readonly thisUpdate: Date; readonly nextUpdate: Date; readonly etag: string } | null;
}

/** The responder asked by the service itself (docs/web.md "CA"): what the CA page shows. */
export interface OcspSelfCheck {
  /** `answering`: a signed answer that verifies against the issuing CA now; else `failing`. */
  readonly status: 'answering' | 'failing';
  /** The OCSP response status or the verification failure's code. */
  readonly detail: string;
  readonly producedAt: Date | null;
  /** Answers signed ahead and kept for repeated questions (RFC 5019 §2.2). */
  readonly preSignedAnswers: number;
}

interface Cached {
  /** The stored status the answer states; the answer is reused only while it still holds. */
  readonly statusKey: string;
  readonly der: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly refreshAt: number;
  readonly etag: string;
}

function statusOf(record: CertificateRecord | null): CertStatus {
  if (!record) return { status: 'unknown' };
  if (record.status === 'revoked' && record.revokedAt) {
    return { status: 'revoked', revokedAt: record.revokedAt, reason: record.revocationReason ?? 'unspecified' };
  }
  return { status: 'good' };
}

function statusKey(status: CertStatus): string {
  return status.status === 'revoked' ? `revoked:${status.revokedAt.getTime()}:${status.reason}` : status.status;
}

export class OcspResponderService {
  private readonly cached = new Map<string, Cached>();
  private renewing: Promise<OcspResponder> | null = null;

  constructor(
    private readonly deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority'>,
    private readonly validityMs = OCSP_VALIDITY_MS,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** Drops the pre-signed answers of these serials (called once a revocation committed). */
  invalidate(serials: readonly SerialNumber[]): void {
    for (const serial of serials) {
      for (const hash of ['sha1', 'sha256']) this.cached.delete(`${hash}:${serial}`);
    }
  }

  /** Re-signs the cached answers whose refresh time has passed (the CRL job calls this). */
  async refreshDue(): Promise<number> {
    const now = this.deps.clock.now().getTime();
    let refreshed = 0;
    for (const [key, entry] of [...this.cached]) {
      if (entry.refreshAt > now && entry.thisUpdate.getTime() <= now) continue;
      this.cached.delete(key);
      const [hashAlgorithm, serial] = key.split(':') as ['sha1' | 'sha256', SerialNumber];
      const certId = { ...this.certIdOfIssuer(hashAlgorithm), serial };
      await this.answerOne(certId);
      refreshed++;
    }
    return refreshed;
  }

  /**
   * Asks this responder about its own certificate with a fresh nonce (so the answer is signed
   * now and not cached), then parses the answer and verifies its signature and responder
   * certificate against the issuing CA, as a relying party would.
   */
  async selfCheck(): Promise<OcspSelfCheck> {
    const preSignedAnswers = this.cached.size;
    const certId = { ...this.certIdOfIssuer('sha256'), serial: this.deps.authority.ocspResponder.certificate.serial };
    try {
      const { der } = await this.answer({ der: Buffer.alloc(0), requests: [certId], nonce: randomBytes(16) });
      const parsed = parseOcspResponse(der);
      if (parsed.status !== 'successful' || !parsed.basic) return { status: 'failing', detail: parsed.status, producedAt: null, preSignedAnswers };
      verifyOcspResponse(parsed, this.deps.authority.intermediate, this.deps.clock.now());
      return { status: 'answering', detail: 'successful', producedAt: parsed.basic.producedAt, preSignedAnswers };
    } catch (e) {
      return { status: 'failing', detail: e instanceof PkiError ? e.code : 'internal', producedAt: null, preSignedAnswers };
    }
  }

  /** Answers a POST body (application/ocsp-request). */
  answerPost(body: unknown): Promise<OcspAnswer> {
    return this.answerRaw(() => {
      if (!Buffer.isBuffer(body)) throw new PkiError('ocsp_request_malformed', 'send the DER OCSPRequest as application/ocsp-request');
      return parseOcspRequest(body);
    });
  }

  /** Answers the GET form: the path after "/ocsp/", still percent-encoded (RFC 6960 Appendix A.1). */
  answerGet(pathSegment: string): Promise<OcspAnswer> {
    return this.answerRaw(() => parseOcspGetPath(pathSegment));
  }

  private async answerRaw(parse: () => ParsedOcspRequest): Promise<OcspAnswer> {
    let request: ParsedOcspRequest;
    try {
      request = parse();
    } catch (e) {
      if (e instanceof PkiError) return { der: buildOcspErrorResponse('malformedRequest'), cache: null };
      throw e;
    }
    try {
      return await this.answer(request);
    } catch (e) {
      // RFC 6960 §2.3 tryLater: "temporarily unable to respond" — the database is away, not broken.
      if (e instanceof DatabaseUnavailable) {
        this.log(`OCSP responder: the database is unavailable (${e.reason}); answered tryLater`);
        return { der: buildOcspErrorResponse('tryLater'), cache: null };
      }
      this.log(`OCSP responder failed: ${e instanceof Error ? e.message : String(e)}`);
      return { der: buildOcspErrorResponse('internalError'), cache: null };
    }
  }

  /**
   * RFC 5019 §2.2.3 / RFC 6960 §2.3: a request naming a certificate of another issuer is answered
   * `unauthorized` — this responder speaks for one issuing CA only.
   */
  async answer(request: ParsedOcspRequest): Promise<OcspAnswer> {
    const issuer = this.deps.authority.intermediate;
    if (!request.requests.every((id) => certIdMatchesIssuer(id, issuer))) {
      return { der: buildOcspErrorResponse('unauthorized'), cache: null };
    }
    const [only] = request.requests;
    if (only && request.requests.length === 1 && request.nonce === null) return this.answerOne(only);
    // A nonce (RFC 8954) makes the answer unique to this request: signed now, never cached.
    const now = this.deps.clock.now();
    const responses = [];
    for (const certId of request.requests) {
      responses.push({ certId, status: statusOf(await this.record(certId.serial)), thisUpdate: now, nextUpdate: new Date(now.getTime() + this.validityMs) });
    }
    const der = await buildOcspResponse({ responder: await this.responder(), producedAt: now, responses, nonce: request.nonce });
    return { der, cache: null };
  }

  /**
   * The responder to sign with: renewed first when its certificate is near expiry, so a service
   * that runs for months never signs with an expired responder. One renewal at a time.
   */
  private async responder(): Promise<OcspResponder> {
    const current = this.deps.authority.ocspResponder;
    if (current.certificate.notAfter.getTime() - this.deps.clock.now().getTime() > RENEW_RESPONDER_BEFORE_MS) return current;
    this.renewing ??= this.deps.authority.renewOcspResponder().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  }

  private certIdOfIssuer(hashAlgorithm: 'sha1' | 'sha256'): Omit<CertId, 'serial'> {
    const issuer = this.deps.authority.intermediate;
    return {
      hashAlgorithm,
      issuerNameHash: createHash(hashAlgorithm).update(issuer.subject.der).digest(),
      issuerKeyHash: createHash(hashAlgorithm).update(issuer.publicKey.keyBits).digest(),
    };
  }

  private record(serial: SerialNumber): Promise<CertificateRecord | null> {
    return this.deps.store.findCertificate(this.deps.authority.issuerFingerprint, serial);
  }

  private async answerOne(certId: CertId): Promise<OcspAnswer> {
    const status = statusOf(await this.record(certId.serial));
    const key = `${certId.hashAlgorithm}:${certId.serial}`;
    const now = this.deps.clock.now();
    const hit = this.cached.get(key);
    // Not one signed ahead of the clock (set back since): relying parties refuse a future thisUpdate.
    if (hit && hit.statusKey === statusKey(status) && now.getTime() < hit.refreshAt && hit.thisUpdate.getTime() <= now.getTime()) {
      return { der: hit.der, cache: { thisUpdate: hit.thisUpdate, nextUpdate: hit.nextUpdate, etag: hit.etag } };
    }
    const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.validityMs);
    const der = await buildOcspResponse({
      responder: await this.responder(),
      producedAt: thisUpdate,
      responses: [{ certId, status, thisUpdate, nextUpdate }],
    });
    const etag = `"${createHash('sha256').update(der).digest('hex').slice(0, 32)}"`;
    // Unknown serials are not kept: anyone may ask about any number, and memory must stay bounded
    // by what was issued.
    if (status.status !== 'unknown') {
      this.cached.delete(key);
      if (this.cached.size >= MAX_CACHED) {
        const oldest = this.cached.keys().next().value;
        if (oldest !== undefined) this.cached.delete(oldest);
      }
      this.cached.set(key, { statusKey: statusKey(status), der, thisUpdate, nextUpdate, refreshAt: thisUpdate.getTime() + this.validityMs / 2, etag });
    }
    return { der, cache: { thisUpdate, nextUpdate, etag } };
  }
}
