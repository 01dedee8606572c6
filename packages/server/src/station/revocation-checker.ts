/**
 * How the central station learns whether a device certificate is revoked (docs/station.md
 * "Revocation policy"), as any relying party would: it asks the OCSP responder (RFC 6960, the
 * RFC 5019 profile: SHA-1 CertID, no nonce, POST) and, when the responder cannot be reached or
 * its answer does not verify, falls back to the CRL (RFC 5280 §6.3), both over the URLs the
 * certificates name. An answer is reused for at most `cacheMs` (the cut-off): after a revocation
 * commits, the station refuses the device no later than that. When neither source gives a fresh,
 * verified answer the station refuses (fail closed).
 */
import {
  type Clock,
  type ParsedCertificate,
  type ParsedCrl,
  type SerialNumber,
  buildOcspRequest,
  certIdFor,
  certIdsEqual,
  parseCrl,
  parseOcspResponse,
  verifyCrl,
  verifyOcspResponse,
} from '@provisio/pki';
import type { RevocationStatusSource, RevocationVerdict } from '../domain/check-in.js';
import { ServiceError } from '../domain/errors.js';
import type { FetchBytes } from './fetch-bytes.js';

/** 60 s: the cut-off. Short enough for a ward, long enough that a fleet checking in every 30 s asks the responder about each device at most once a minute. */
export const DEFAULT_STATUS_CACHE_MS = 60_000;
/** Verdicts kept; past this the oldest is dropped (memory stays bounded). */
const MAX_CACHED = 10_000;

export interface RevocationCheckerOptions {
  /** The issuing CA certificate: it signs the CRL and delegated the OCSP responder. */
  readonly issuer: ParsedCertificate;
  readonly ocspUrl: string | null;
  readonly crlUrl: string | null;
  /** How long an answer (OCSP verdict or downloaded CRL) is reused: the cut-off. */
  readonly cacheMs: number;
  readonly clock: Clock;
  readonly fetch: FetchBytes;
  readonly log: (line: string) => void;
}

interface CachedCrl {
  readonly crl: ParsedCrl;
  readonly fetchedAt: number;
}

export class RevocationChecker implements RevocationStatusSource {
  private readonly verdicts = new Map<SerialNumber, RevocationVerdict>();
  private crl: CachedCrl | null = null;

  constructor(private readonly options: RevocationCheckerOptions) {}

  private isFresh(checkedAt: number, now: number): boolean {
    // A clock that went backwards makes nothing fresh: ask again.
    return now >= checkedAt && now - checkedAt < this.options.cacheMs;
  }

  async check(serial: SerialNumber): Promise<RevocationVerdict> {
    const now = this.options.clock.now();
    const hit = this.verdicts.get(serial);
    if (hit && this.isFresh(hit.checkedAt.getTime(), now.getTime())) return hit;
    const problems: string[] = [];
    let verdict: RevocationVerdict | null = null;
    if (this.options.ocspUrl) {
      try {
        verdict = await this.askOcsp(this.options.ocspUrl, serial, now);
      } catch (e) {
        problems.push(`OCSP ${this.options.ocspUrl}: ${messageOf(e)}`);
      }
    }
    if (!verdict && this.options.crlUrl) {
      try {
        verdict = await this.lookUpCrl(this.options.crlUrl, serial, now);
      } catch (e) {
        problems.push(`CRL ${this.options.crlUrl}: ${messageOf(e)}`);
      }
    }
    if (!verdict) {
      this.options.log(`station: no revocation status for serial ${serial} (${problems.join('; ') || 'no OCSP or CRL URL'}); refused (fail closed)`);
      throw new ServiceError('revocation_status_unavailable', `the revocation status of certificate ${serial} could not be checked (OCSP and CRL both failed); the station refuses until it can (fail closed)`);
    }
    if (problems.length > 0) this.options.log(`station: ${problems.join('; ')}; used the CRL for serial ${serial}`);
    this.verdicts.delete(serial);
    if (this.verdicts.size >= MAX_CACHED) {
      const oldest = this.verdicts.keys().next().value;
      if (oldest !== undefined) this.verdicts.delete(oldest);
    }
    this.verdicts.set(serial, verdict);
    return verdict;
  }

  private async askOcsp(url: string, serial: SerialNumber, now: Date): Promise<RevocationVerdict> {
    const { issuer } = this.options;
    const request = await buildOcspRequest({ issuer, serial });
    const reply = await this.options.fetch('POST', url, { bytes: request, contentType: 'application/ocsp-request' });
    if (reply.status !== 200) throw new Error(`HTTP ${reply.status}`);
    const response = parseOcspResponse(reply.body);
    verifyOcspResponse(response, issuer, now);
    const expected = certIdFor(issuer, serial, 'sha1');
    const single = response.basic?.responses.find((r) => certIdsEqual(r.certId, expected));
    if (!single) throw new Error(`the response does not answer for serial ${serial}`);
    const base = { source: 'ocsp' as const, checkedAt: now };
    if (single.status.status === 'revoked') return { ...base, status: 'revoked', revokedAt: single.status.revokedAt, reason: single.status.reason };
    return { ...base, status: single.status.status };
  }

  private async currentCrl(url: string, now: Date): Promise<CachedCrl> {
    const cached = this.crl;
    if (cached && this.isFresh(cached.fetchedAt, now.getTime()) && (cached.crl.nextUpdate?.getTime() ?? 0) > now.getTime()) return cached;
    const reply = await this.options.fetch('GET', url);
    if (reply.status !== 200) throw new Error(`HTTP ${reply.status}`);
    const crl = parseCrl(reply.body);
    verifyCrl(crl, this.options.issuer);
    // RFC 5280 §6.3.3 (a): a CRL past its nextUpdate is not current.
    if (!crl.nextUpdate || crl.nextUpdate.getTime() <= now.getTime()) {
      throw new Error(`the CRL is stale (next update ${crl.nextUpdate?.toISOString() ?? 'absent'})`);
    }
    this.crl = { crl, fetchedAt: now.getTime() };
    return this.crl;
  }

  private async lookUpCrl(url: string, serial: SerialNumber, now: Date): Promise<RevocationVerdict> {
    const { crl, fetchedAt } = await this.currentCrl(url, now);
    const entry = crl.entries.find((e) => e.serial === serial);
    // Dated when the CRL was fetched, not now: a verdict from a CRL fetched a while ago must not
    // be reused for a whole cut-off more.
    const base = { source: 'crl' as const, checkedAt: new Date(fetchedAt) };
    if (entry) return { ...base, status: 'revoked', revokedAt: entry.revokedAt, reason: entry.reason };
    return { ...base, status: 'good' };
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
