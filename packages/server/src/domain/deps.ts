/**
 * What the domain needs from the world, as one object; each service takes a `Pick` of it.
 * Only src/app.ts builds the real one.
 */
import type { KeyObject } from 'node:crypto';
import type {
  CertificatePlan,
  CertificateRequest,
  Clock,
  IssuedCertificate,
  OcspResponder,
  ParsedCertificate,
  Random,
  RevokedEntry,
  SerialNumber,
  Signer,
} from '@provisio/pki';
import type { CheckpointFile } from '../audit/checkpoint-file.js';
import type { Role, UserId } from './model.js';
import type { Store } from './store.js';

/** The online issuing CA as the domain sees it: no key material, only operations. */
export interface IssuingAuthority {
  readonly root: ParsedCertificate;
  readonly intermediate: ParsedCertificate;
  /** SHA-256 of the issuing CA certificate: the issuer half of (issuer, serial). */
  readonly issuerFingerprint: string;
  /** The TBSCertificate `issue` would sign for `request`, for the pipeline's lint step. */
  plan(request: CertificateRequest): CertificatePlan;
  /** Plans, lints, encodes and signs (pki createIssuer): the pipeline's sign step. */
  issue(request: CertificateRequest): Promise<IssuedCertificate>;
  /** Signs certified profiles and audit checkpoints. */
  readonly profileSigner: Signer;
  /** DER: the profile signer's certificate, then the issuing CA's. */
  readonly profileSignerChain: readonly Buffer[];
  /** Builds, lints and signs a complete CRL with the issuing CA's key (RFC 5280 §5). */
  signCrl(input: { crlNumber: bigint; thisUpdate: Date; nextUpdate: Date; entries: readonly RevokedEntry[] }): Promise<Buffer>;
  /** The delegated OCSP responder (id-kp-OCSPSigning, id-pkix-ocsp-nocheck) the issuing CA certified. */
  readonly ocspResponder: OcspResponder;
  /**
   * Replaces the responder's certificate (and key) when it is within 30 days of expiry, recording
   * the new one; returns the responder in use afterwards.
   */
  renewOcspResponder(): Promise<OcspResponder>;
  /** The root's CRL from the ceremony, published beside the issuing CRL (decision D31). */
  readonly rootCrl: RootCrlSource;
  /** The SCEP registration authority (RSA key, certified by the issuing CA; D47), made on first use. */
  readonly scepRa?: () => Promise<ScepRa>;
}

export interface ScepRa {
  readonly certificate: ParsedCertificate;
  readonly privateKey: KeyObject;
}

/** A root CRL the service publishes but cannot sign: the root key is offline (or discarded). */
export interface PublishedRootCrl {
  readonly der: Buffer;
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}

export interface RootCrlSource {
  /** The file it is read from (CA_DIR/root.crl). */
  readonly path: string;
  /** The newest valid root CRL from that file, or null when there has never been one. */
  current(): PublishedRootCrl | null;
}

/** How revocation is published (docs/service.md "CRL", "OCSP"). */
export interface RevocationPublishing {
  /** A fresh CRL is published at least this often; nextUpdate = thisUpdate + interval + grace. */
  readonly crlIntervalMs: number;
  /** Called once a revocation has committed, with the serials revoked: drops cached OCSP answers. */
  revoked(serials: readonly SerialNumber[]): void;
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
  readonly revocation: RevocationPublishing;
  readonly decisions?: RequestDecisions;
  /** Every audit checkpoint is also appended here, outside the database (docs/audit.md). */
  readonly auditCheckpointFile?: CheckpointFile;
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
