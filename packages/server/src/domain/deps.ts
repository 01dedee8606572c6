/**
 * What the domain needs from the world, as one object; each service takes a `Pick` of it.
 * Only src/app.ts builds the real one.
 */
import type { CertificateRequest, Clock, IssuedCertificate, ParsedCertificate, Random, Signer } from '@provisio/pki';
import type { Role, UserId } from './model.js';
import type { Store } from './store.js';

/** The online issuing CA as the domain sees it: no key material, only operations. */
export interface IssuingAuthority {
  readonly root: ParsedCertificate;
  readonly intermediate: ParsedCertificate;
  /** SHA-256 of the issuing CA certificate: the issuer half of (issuer, serial). */
  readonly issuerFingerprint: string;
  issue(request: CertificateRequest): Promise<IssuedCertificate>;
  /** Signs certified profiles and audit checkpoints. */
  readonly profileSigner: Signer;
  /** DER: the profile signer's certificate, then the issuing CA's. */
  readonly profileSignerChain: readonly Buffer[];
}

export interface ServiceUrls {
  /** The base URL devices and the CLI use, e.g. https://127.0.0.1:8443 */
  readonly serviceUrl: string;
  readonly ocspUrl: string | null;
  readonly crlUrl: string | null;
}

/**
 * Told when a request's decision (approval or rejection) is committed, so a device's held
 * long-poll answers at once (http/decision-waiters.ts). Optional: without it, polls time out.
 */
export interface RequestDecisions {
  decided(requestId: string): void;
}

export interface ServiceDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly store: Store;
  readonly authority: IssuingAuthority;
  readonly urls: ServiceUrls;
  readonly decisions?: RequestDecisions;
}

/** Who is acting: recorded in the audit log as `user:<username>`. */
export interface Actor {
  readonly userId: UserId;
  readonly username: string;
  readonly role: Role;
}

export function actorName(actor: Actor | 'system'): string {
  return actor === 'system' ? 'system' : `user:${actor.username}`;
}

/** A random identifier: prefix + 16 random bytes, base32-like lowercase hex. */
export function newId(random: Random, prefix: string): string {
  return `${prefix}_${Buffer.from(random.bytes(16)).toString('hex')}`;
}
