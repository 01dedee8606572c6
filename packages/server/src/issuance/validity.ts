/**
 * How long what the CA issues lives, in one place: every certificate the issuing pipeline makes
 * takes its lifetime and its backdating from here (docs/service.md "Issuance").
 */
import type { CertificateProfile } from '@provisio/pki';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** Kinds the online issuing CA certifies (never a CA). */
export type IssuedKind = Exclude<CertificateProfile['kind'], 'root-ca' | 'intermediate-ca'>;

/**
 * Clock skew allowance: a certificate starts a little in the past (devices' clocks drift). The
 * service's own certificates start an hour back: relying parties of the TLS and OCSP responder
 * certificates include devices whose clocks were never set.
 */
export const BACKDATE_MS: Readonly<Record<IssuedKind, number>> = {
  'device': 5 * 60_000,
  'bootstrap': 5 * 60_000,
  'gateway': 5 * 60_000,
  'tls-server': HOUR_MS,
  'ocsp-responder': HOUR_MS,
  'profile-signer': HOUR_MS,
  'scep-ra': HOUR_MS,
};

/** A bootstrap credential is short-lived: a factory run, not a product lifetime. */
export const DEFAULT_PACKAGE_DAYS = 30;
export const MAX_PACKAGE_DAYS = 365;
/** 398 days: the longest TLS server certificate lifetime browsers accept (CA/B BR §6.3.2). */
export const GATEWAY_VALIDITY_DAYS = 398;
/** The service's TLS server certificate: renewed at start within RENEW_SERVICE_BEFORE_MS of expiry. */
export const TLS_VALIDITY_DAYS = 90;
/**
 * The delegated OCSP responder: id-pkix-ocsp-nocheck makes its status unverifiable, so it is
 * short-lived (RFC 6960 §4.2.2.2.1: "a short lifetime").
 */
export const OCSP_RESPONDER_VALIDITY_DAYS = 90;
export const PROFILE_SIGNER_VALIDITY_DAYS = 365;
/** The SCEP RA certificate (RFC 8894): made when SCEP is first used, renewed like the profile signer. */
export const SCEP_RA_VALIDITY_DAYS = 365;
/** The service's own certificates are replaced when this close to expiry (at start, or when the OCSP responder asks). */
export const RENEW_SERVICE_BEFORE_MS = 30 * DAY_MS;

/** A device certificate lives as long as its component says: 365 days unless set. */
export const DEFAULT_DEVICE_VALIDITY_DAYS = 365;
/** 825 days is the longest a device certificate may live here; renewal keeps devices current. */
export const MAX_DEVICE_VALIDITY_DAYS = 825;

/** The longest lifetime the pipeline accepts per kind (a validator, whatever the caller asked). */
export const MAX_VALIDITY_DAYS: Readonly<Record<IssuedKind, number>> = {
  'device': MAX_DEVICE_VALIDITY_DAYS,
  'bootstrap': MAX_PACKAGE_DAYS,
  'gateway': GATEWAY_VALIDITY_DAYS,
  'tls-server': TLS_VALIDITY_DAYS,
  'ocsp-responder': OCSP_RESPONDER_VALIDITY_DAYS,
  'profile-signer': PROFILE_SIGNER_VALIDITY_DAYS,
  'scep-ra': SCEP_RA_VALIDITY_DAYS,
};

/** Written into every certified profile: renew at two thirds of the lifetime, ±5% jitter so a fleet does not renew at once. */
export const RENEWAL_SCHEDULE = { atFractionOfLifetime: 2 / 3, jitterFraction: 0.05 } as const;

/** How long a reprovisioning request waits for an approver: as long as a default provisioning request. */
export const REPROVISION_LIFETIME_MS = 7 * DAY_MS;
