/**
 * The provisioning service's records, as the domain sees them. Storage-neutral: the store maps
 * these to rows (SQLite and PostgreSQL alike); no SQL or HTTP types appear here.
 * Times are `Date`; binary values are `Buffer`; ids are branded strings.
 */
import type { KeyType, RevocationReason, SerialNumber } from '@provisio/pki';

export type UserId = string & { readonly __brand: 'UserId' };
export type SystemId = string & { readonly __brand: 'SystemId' };
export type ComponentId = string & { readonly __brand: 'ComponentId' };
export type PackageId = string & { readonly __brand: 'PackageId' };
export type RequestId = string & { readonly __brand: 'RequestId' };
/** The device's own identifier (CN of its certificate); unique across the service. */
export type DeviceIdText = string & { readonly __brand: 'DeviceIdText' };
export type GatewayId = string & { readonly __brand: 'GatewayId' };
export type EnrollmentTokenId = string & { readonly __brand: 'EnrollmentTokenId' };

export type Role = 'admin' | 'approver' | 'technician' | 'auditor';
export const ROLES: readonly Role[] = ['admin', 'approver', 'technician', 'auditor'];

export interface User {
  readonly id: UserId;
  readonly username: string;
  readonly role: Role;
  /** scrypt hash in PHC-like text form; null for token-only users. */
  readonly passwordHash: string | null;
  readonly createdAt: Date;
  readonly disabledAt: Date | null;
}

export interface ApiToken {
  readonly id: string;
  readonly userId: UserId;
  /** SHA-256 of the token (tokens are 256-bit random, so a fast hash is enough). */
  readonly tokenHash: Buffer;
  readonly name: string;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}

export interface SystemRecord {
  readonly id: SystemId;
  readonly name: string;
  /** Whether mock device files (000 "mock device files") are accepted for this system. */
  readonly allowMock: boolean;
  /**
   * Whether the person who submitted a request (an upload) is refused as its approver
   * (docs/decisions.md D28). On unless the system is created or updated with it off.
   */
  readonly separationOfDuties: boolean;
  /**
   * Whether a valid one-time enrollment token or pairing code is itself the approval of the
   * request it makes (docs/decisions.md D38); off: the approval policy decides, as for any
   * request. Off unless the system is created or updated with it on (migration 13).
   */
  readonly enrollmentSecretApproves: boolean;
  /**
   * Whether a pairing may ask the service to generate the device key (devices that cannot make
   * keys): the key is sent once in the payload and never stored (migration 14). Off by default.
   */
  readonly centralKeyGeneration: boolean;
  readonly createdAt: Date;
}

/** A component carries the certificate template of its devices. */
export interface ComponentRecord {
  readonly id: ComponentId;
  readonly systemId: SystemId;
  readonly name: string;
  readonly keyTypes: readonly KeyType[];
  readonly validityDays: number;
  /**
   * Days after its certificate expired that a device may still renew it (docs/lifecycle.md
   * "Renewal after expiry"); 0: an expired certificate never renews.
   */
  readonly renewalGraceDays: number;
  readonly createdAt: Date;
}

export type PackageStatus = 'active' | 'revoked';

export interface PackageRecord {
  readonly id: PackageId;
  readonly systemId: SystemId;
  readonly status: PackageStatus;
  /** DER of the bootstrap credential's certificate; requests are signed by its key. */
  readonly bootstrapCertificate: Buffer;
  /** SHA-256 (hex) of bootstrapCertificate. */
  readonly bootstrapFingerprint: string;
  readonly requestLifetimeSeconds: number;
  readonly expiresAt: Date;
  readonly createdAt: Date;
  readonly createdBy: UserId;
  readonly revokedAt: Date | null;
}

export type RequestState = 'pending' | 'approved' | 'rejected';

export type Transport = 'upload' | 'connected' | 'proxy';

/**
 * How a first provisioning request authenticated: absent for a bootstrap package's signed request;
 * 'token' for a one-time enrollment token (domain/enrollment-tokens.ts); 'pairing-code' for a
 * device's pre-registered pairing code (domain/pairing-codes.ts).
 */
export type EnrollmentSecretKind = 'token' | 'pairing-code';

export interface RequestRecord {
  readonly id: RequestId;
  /** The bootstrap package that signed it; null for a request made with a token or pairing code. */
  readonly packageId: PackageId | null;
  readonly systemId: SystemId;
  readonly componentId: ComponentId;
  readonly deviceId: DeviceIdText;
  readonly deviceLabel: string;
  readonly hardwareSerial: string | null;
  readonly firmwareVersion: string | null;
  /** The request's nonce (base64url); unique per package. */
  readonly nonce: string;
  /** SHA-256 (hex) over the request file bytes: an identical resubmission is the same request. */
  readonly contentHash: string;
  /** The request file exactly as received. */
  readonly raw: Buffer;
  /** SHA-256 (hex) of the device's SubjectPublicKeyInfo. */
  readonly publicKeyFingerprint: string;
  /** e.g. "ECDSA P-256". */
  readonly keyAlgorithm: string;
  readonly mock: boolean;
  readonly transport: Transport;
  readonly state: RequestState;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly submittedBy: UserId | null;
  readonly decidedAt: Date | null;
  readonly decidedBy: UserId | null;
  readonly decisionReason: string | null;
  /** The approval policy's verdict at intake (domain/approval-policy.ts); null/absent before policies existed. */
  readonly policy?: PolicyVerdict | null;
  /** The proxy gateway that carried the request (transport 'proxy'); null/absent otherwise. */
  readonly gatewayId?: GatewayId | null;
  /**
   * Absent for a provisioning request. 'renewal': a new certificate for a provisioned device,
   * asked for with its current certificate (raw is the renewal JWS); 'reprovision': a fresh
   * profile for a provisioned device, through its component's approval policy (docs/lifecycle.md).
   */
  readonly kind?: RequestKind;
  /** The standard enrollment protocol it came by (docs/protocols.md): raw is then the PKCS#10 CSR (DER) as received. */
  readonly protocol?: EnrollmentProtocol;
  /**
   * Absent: a bootstrap package's request (or a renewal or reprovisioning, which carry their
   * first request's). Otherwise how the first request authenticated; `raw` is then its CSR (DER).
   */
  readonly enrollment?: { readonly kind: EnrollmentSecretKind; readonly id: string };
}

export type RequestKind = 'renewal' | 'reprovision';

/** The standard enrollment protocols a system or component may accept (docs/protocols.md). */
export const ENROLLMENT_PROTOCOLS = ['est', 'cmp', 'scep'] as const;
export type EnrollmentProtocol = (typeof ENROLLMENT_PROTOCOLS)[number];

/** A protocol switched on for a system (componentId null: all its components) or one component. */
export interface ProtocolSwitch {
  readonly systemId: SystemId;
  readonly componentId: ComponentId | null;
  readonly protocol: EnrollmentProtocol;
  readonly enabledAt: Date;
  readonly enabledBy: UserId;
}

export type CmpTransactionState = 'waiting' | 'issued' | 'confirmed' | 'rejected' | 'done';

/** A CMP transaction the service answered (RFC 4210 §5.1.1): replay protection and certConf. */
export interface CmpTransaction {
  /** Hex of the transactionID. */
  readonly transactionId: string;
  /** Hex of the client's first senderNonce. */
  readonly senderNonce: string;
  /** Hex of the service's latest senderNonce: the client's next recipNonce. */
  readonly serverNonce: string;
  /** The body that opened it: ir, cr, p10cr, kur, rr. */
  readonly bodyType: string;
  readonly state: CmpTransactionState;
  readonly deviceId: DeviceIdText | null;
  readonly requestId: RequestId | null;
  readonly serial: SerialNumber | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What a pending request asks for: a first provisioning (a request without a kind), or its kind. */
export type PendingRequestKind = 'provision' | RequestKind;

/**
 * The request of a device that waits for a decision (state pending; the newest when there are
 * several). A provisioned device asking to be reprovisioned keeps its state 'provisioned' and has
 * one of these, so the Devices page can show and decide it (docs/web.md "Devices").
 */
export interface PendingRequestRef {
  readonly id: RequestId;
  readonly kind: PendingRequestKind;
  /** A pending request past this time can only be rejected (approval answers request_expired). */
  readonly expiresAt: Date;
}

/**
 * A proxy gateway (docs/proxy.md): it carries requests, profiles and install confirmations of
 * devices that cannot reach the service, authenticating with its own certificate (profile
 * 'gateway') over mutual TLS. It signs nothing the devices or the service rely on.
 */
export interface GatewayRecord {
  readonly id: GatewayId;
  /** Unique; the certificate's CN. */
  readonly name: string;
  /** The DNS names and IP addresses in the certificate's subjectAltName. */
  readonly hosts: readonly string[];
  readonly certificateSerial: SerialNumber;
  /** SHA-256 (hex) of the certificate DER: how a presented client certificate finds its gateway. */
  readonly certificateFingerprint: string;
  readonly createdAt: Date;
  readonly createdBy: UserId;
  readonly revokedAt: Date | null;
}

export type DeviceState = 'pending' | 'approved' | 'provisioned' | 'rejected' | 'revoked';

export interface DeviceRecord {
  readonly deviceId: DeviceIdText;
  readonly systemId: SystemId;
  readonly componentId: ComponentId;
  readonly label: string;
  readonly state: DeviceState;
  readonly mock: boolean;
  /** The request that produced the current (or pending) identity. */
  readonly currentRequestId: RequestId;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly provisionedAt: Date | null;
  /** The device's last check-in at the central station (docs/station.md); null: never seen. */
  readonly lastSeen: DeviceCheckIn | null;
  /**
   * An admin or approver asked for this device to be reprovisioned (docs/lifecycle.md
   * "Reprovisioning asked for by an admin"); null: nothing asked, or the ask was fulfilled or
   * cancelled. Absent on records made before migration 8 (read as null).
   */
  readonly reprovisionAsk?: ReprovisionAsk | null;
  /**
   * The device's request waiting for a decision, of any kind; null when none. Kept by the store
   * from the requests table in the transaction that inserts or decides a request (what is passed
   * to insertDevice is recomputed, not trusted).
   */
  readonly pendingRequest: PendingRequestRef | null;
}

/** Who asked for a device's reprovisioning, when and why. */
export interface ReprovisionAsk {
  readonly at: Date;
  readonly by: UserId;
  readonly reason: string;
}

/** What a device reports when it checks in at the central station (docs/station.md). */
export interface Telemetry {
  readonly firmwareVersion?: string;
  readonly uptimeSeconds?: number;
  readonly status?: 'ok' | 'degraded' | 'fault';
  readonly message?: string;
}

export interface DeviceCheckIn {
  readonly at: Date;
  /** The serial of the certificate the device presented. */
  readonly serial: SerialNumber;
  readonly telemetry: Telemetry;
}

export type CertificateStatus = 'active' | 'revoked';

export interface CertificateRecord {
  readonly serial: SerialNumber;
  /** SHA-256 (hex) of the issuing CA certificate: (issuer, serial) is unique. */
  readonly issuerFingerprint: string;
  readonly deviceId: DeviceIdText | null;
  readonly requestId: RequestId | null;
  /** What kind of certificate: 'device', 'bootstrap', 'profile-signer', 'tls-server', 'ocsp-responder', 'gateway'. */
  readonly kind: string;
  readonly der: Buffer;
  readonly fingerprint: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly status: CertificateStatus;
  readonly revokedAt: Date | null;
  readonly revocationReason: RevocationReason | null;
  readonly createdAt: Date;
  /**
   * SHA-256 of the certified SubjectPublicKeyInfo, what key policy looks keys up by. Always set by
   * the issuing pipeline; absent only for a row whose DER did not parse when migration 11 ran.
   */
  readonly publicKeySha256?: string;
}

/**
 * A one-time enrollment token (docs/service.md "Enrollment tokens"): `pvt_<id>_<secret>`, of which
 * only the SHA-256 of the secret is kept. Bound to a system and component, and to one device id
 * or an anchored pattern of ids; `maxUses` enrollments until `expiresAt`.
 */
export interface EnrollmentTokenRecord {
  readonly id: EnrollmentTokenId;
  readonly systemId: SystemId;
  readonly componentId: ComponentId;
  /** Exactly this device id, or null when `devicePattern` binds it. */
  readonly deviceId: DeviceIdText | null;
  /** An anchored regular expression (^…$) the device id must match, or null when `deviceId` binds it. */
  readonly devicePattern: string | null;
  /** SHA-256 of the secret part (256 random bits, so a fast hash is enough). */
  readonly secretSha256: Buffer;
  readonly maxUses: number;
  readonly uses: number;
  readonly expiresAt: Date;
  readonly createdAt: Date;
  readonly createdBy: UserId;
  readonly revokedAt: Date | null;
  readonly lastUsedAt: Date | null;
}

/**
 * A device pre-registered with a pairing code (docs/service.md "Pairing codes"): the code is
 * kept only as a scrypt hash; single use, an expiry, bound to its device id; wrong codes are
 * counted here and lock the record at PAIRING_MAX_FAILURES until an admin resets it.
 */
export interface PairingCodeRecord {
  readonly deviceId: DeviceIdText;
  readonly systemId: SystemId;
  readonly componentId: ComponentId;
  readonly deviceLabel: string;
  /** scrypt hash of the normalized code, PHC-like text (the same form as password hashes). */
  readonly codeHash: string;
  readonly failedAttempts: number;
  readonly lockedAt: Date | null;
  readonly expiresAt: Date;
  readonly createdAt: Date;
  readonly createdBy: UserId;
  readonly revokedAt: Date | null;
  /** When the code was used, the request it made and the SHA-256 of that request's CSR. */
  readonly usedAt: Date | null;
  readonly usedRequestId: RequestId | null;
  readonly usedCsrSha256: string | null;
}

/** A key whose certificate was revoked for keyCompromise: no identity gets it certified again. */
export interface BlockedKey {
  readonly publicKeySha256: string;
  readonly blockedAt: Date;
  /** The revoked certificate that blocked it. */
  readonly issuerFingerprint: string;
  readonly serial: SerialNumber;
}

/** A revoked certificate as a CRL lists it (RFC 5280 §5.1.2.6). */
export interface RevokedCertificate {
  readonly serial: SerialNumber;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

/** The newest CRL an issuing CA published (docs/service.md "CRL"). */
export interface CrlRecord {
  readonly issuerFingerprint: string;
  /** RFC 5280 §5.2.3 cRLNumber; only rises. */
  readonly crlNumber: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly der: Buffer;
}

export interface ProfileRecord {
  readonly requestId: RequestId;
  readonly deviceId: DeviceIdText;
  /** The certified profile file exactly as signed. */
  readonly content: Buffer;
  readonly createdAt: Date;
}

/** An audit entry as appended; `seq`, `prevHash` and `hash` are assigned by the log. */
export interface AuditEvent {
  readonly at: Date;
  /** "user:<username>", "device:<deviceId>", "system" ... */
  readonly actor: string;
  /** Stable dotted name, e.g. "request.approve" (docs/audit.md lists them). */
  readonly action: string;
  readonly targetType: string;
  readonly targetId: string;
  /** Structured details; never secrets (no tokens, keys, passwords, PSKs). */
  readonly details: Readonly<Record<string, unknown>>;
}

export interface AuditEntry extends AuditEvent {
  readonly seq: number;
  /** SHA-256 (hex) of the previous entry; 64 zeros for the first. */
  readonly prevHash: string;
  readonly hash: string;
}

export interface AuditCheckpoint {
  readonly seq: number;
  readonly hash: string;
  readonly at: Date;
  /** Signature over the checkpoint statement by the profile signer (DER). */
  readonly signature: Buffer;
  readonly signerCertificate: Buffer;
}

export interface Page<T> {
  readonly items: readonly T[];
  readonly total: number;
}

export type ApprovalMode = 'manual' | 'automatic';

/** What must hold for a request to be approved automatically; an absent rule is not checked. */
export interface PolicyRules {
  /** An anchored regular expression (^…$) the device id must match. */
  readonly deviceIdPattern?: string;
  /** Hardware serials allowed. */
  readonly serialAllowList?: readonly string[];
  /** How the request may have arrived. */
  readonly transports?: readonly Transport[];
  /** At most this many automatic approvals in the policy's scope within the last hour. */
  readonly maxPerHour?: number;
  /** Provisioning packages whose requests qualify. */
  readonly packageIds?: readonly string[];
}

/** An approval policy for a system (componentId null) or one component; the component's wins. */
export interface ApprovalPolicyRecord {
  readonly id: string;
  readonly systemId: SystemId;
  readonly componentId: ComponentId | null;
  readonly mode: ApprovalMode;
  readonly rules: PolicyRules;
  readonly createdAt: Date;
  readonly createdBy: UserId;
  readonly updatedAt: Date;
  readonly updatedBy: UserId;
}

/** The policy's verdict on one request: which rule decided and why. */
export interface PolicyVerdict {
  readonly decision: 'approve' | 'manual';
  readonly rule: string;
  readonly reason: string;
}
