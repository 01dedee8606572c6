/**
 * The storage port. The domain asks for records and compare-and-set transitions; the store
 * (src/store, Kysely over SQLite or PostgreSQL) answers. Every method that changes state runs
 * inside `transaction`, together with the audit entry that records it (security.md I5).
 *
 * Conventions for implementers:
 * - "insert" fails with `StoreConflict` on a unique violation and writes nothing.
 * - "transition" methods are compare-and-set (`UPDATE … WHERE state = expected`) and return
 *   false when the row was not in the expected state: twenty concurrent approvals of one request
 *   make one winner and nineteen `false`.
 * - Lists are ordered as documented and paginated with limit/offset; `total` counts all matches.
 */
import type { RevocationReason, SerialNumber } from '@provisio/pki';
import type {
  ApiToken,
  ApprovalPolicyRecord,
  AuditCheckpoint,
  AuditEntry,
  AuditEvent,
  BlockedKey,
  CertificateRecord,
  CmpTransaction,
  CmpTransactionState,
  ComponentId,
  CrlRecord,
  ComponentRecord,
  DeviceCheckIn,
  DeviceIdText,
  DeviceRecord,
  DeviceState,
  EnrollmentProtocol,
  ProtocolSwitch,
  EnrollmentTokenId,
  EnrollmentTokenRecord,
  PairingCodeRecord,
  ReprovisionAsk,
  GatewayId,
  GatewayRecord,
  PackageId,
  PackageRecord,
  Page,
  PolicyVerdict,
  ProfileRecord,
  RequestId,
  RequestRecord,
  RequestState,
  Transport,
  RevokedCertificate,
  SystemId,
  SystemRecord,
  User,
  UserId,
} from './model.js';

/** A unique constraint refused the write; `constraint` names what collided. */
export class StoreConflict extends Error {
  override readonly name = 'StoreConflict';
  constructor(readonly constraint: string) {
    super(`unique constraint violated: ${constraint}`);
  }
}

export interface RequestFilter {
  readonly state?: RequestState;
  readonly systemId?: SystemId;
  readonly componentId?: ComponentId;
  /** Every request made with exactly this device id. */
  readonly deviceId?: DeviceIdText;
  /** Case-insensitive substring of deviceId, deviceLabel or hardwareSerial. */
  readonly text?: string;
  readonly limit: number;
  readonly offset: number;
}

/**
 * Orders of the device list (a closed list: only these columns are ever put in ORDER BY): most
 * recently changed first (the default); pending first (devices with a pending request of any kind
 * on top, then by last change); by device id, label, state or creation time, either direction. Every order
 * ends with the device id ascending, so ties come in one stable order and pages never overlap.
 */
export const DEVICE_SORTS = ['updated', 'pending-first', 'device-id', 'label', 'state', 'created'] as const;
export type DeviceSort = (typeof DEVICE_SORTS)[number];
export type SortDirection = 'asc' | 'desc';

/** The direction a sort takes when none is given: times newest first, text A to Z. */
export function defaultDirection(sort: DeviceSort): SortDirection {
  return sort === 'updated' || sort === 'pending-first' || sort === 'created' ? 'desc' : 'asc';
}

export interface DeviceFilter {
  readonly sort?: DeviceSort;
  /** Only devices with a pending request of any kind (provisioning, renewal, reprovisioning). */
  readonly needsApproval?: boolean;
  /** Default: `defaultDirection(sort)`. */
  readonly direction?: SortDirection;
  readonly state?: DeviceState;
  /** How the device's current request arrived (upload, connected, proxy). */
  readonly transport?: Transport;
  /** Devices with an active certificate whose notAfter is before this time (an expiry window). */
  readonly certificateExpiresBefore?: Date;
  readonly systemId?: SystemId;
  readonly componentId?: ComponentId;
  readonly text?: string;
  readonly limit: number;
  readonly offset: number;
}

/** What the store records as the end of the audit chain, rewritten by every append. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

export interface AuditFilter {
  readonly actor?: string;
  readonly action?: string;
  readonly targetId?: string;
  /** Entries about any of these targets (a device and its requests). */
  readonly targetIds?: readonly string[];
  readonly fromSeq?: number;
  /** Entries with seq at most this (keyset paging newest first: the last seq seen minus one). */
  readonly toSeq?: number;
  /** Entries at or after this time. */
  readonly since?: Date;
  /** Entries before this time. */
  readonly until?: Date;
  readonly limit: number;
  readonly offset: number;
}

/** The rows an approval rests on (`readApprovalRows`); null where no row has the id. */
export interface ApprovalRows {
  readonly user: User | null;
  readonly system: SystemRecord | null;
  readonly component: ComponentRecord | null;
  readonly package: PackageRecord | null;
}

export interface StoreTx {
  // users and tokens
  insertUser(user: User): Promise<void>;
  findUserByName(username: string): Promise<User | null>;
  findUserById(id: UserId): Promise<User | null>;
  listUsers(): Promise<User[]>;
  insertToken(token: ApiToken): Promise<void>;
  /** The token with this hash, unless revoked, with its (enabled) user. */
  findActiveToken(tokenHash: Buffer): Promise<{ token: ApiToken; user: User } | null>;

  // systems and components (names unique; component names unique per system)
  insertSystem(system: SystemRecord): Promise<void>;
  findSystemByName(name: string): Promise<SystemRecord | null>;
  findSystemById(id: SystemId): Promise<SystemRecord | null>;
  /** Sets whether mock device files are accepted; false when no system has this id. */
  setSystemAllowMock(id: SystemId, allowMock: boolean): Promise<boolean>;
  /** Sets whether a request's submitter is refused as its approver; false when no system has this id. */
  setSystemSeparationOfDuties(id: SystemId, on: boolean): Promise<boolean>;
  setSystemEnrollmentSecretApproves(id: SystemId, on: boolean): Promise<boolean>;
  setSystemCentralKeyGeneration(id: SystemId, on: boolean): Promise<boolean>;
  listSystems(): Promise<SystemRecord[]>;
  insertComponent(component: ComponentRecord): Promise<void>;
  findComponent(systemId: SystemId, name: string): Promise<ComponentRecord | null>;
  findComponentById(id: ComponentId): Promise<ComponentRecord | null>;
  listComponents(systemId: SystemId): Promise<ComponentRecord[]>;
  /** Sets the component's renewal grace period (days after expiry a certificate may still renew). */
  setComponentRenewalGrace(id: ComponentId, days: number): Promise<void>;

  // provisioning packages
  insertPackage(pkg: PackageRecord): Promise<void>;
  findPackage(id: PackageId): Promise<PackageRecord | null>;
  listPackages(systemId?: SystemId): Promise<PackageRecord[]>;
  /** active → revoked; false when it was not active. */
  revokePackage(id: PackageId, at: Date): Promise<boolean>;

  // provisioning requests ((packageId, nonce) unique; contentHash unique)
  insertRequest(request: RequestRecord): Promise<void>;
  findRequest(id: RequestId): Promise<RequestRecord | null>;
  findRequestByContentHash(contentHash: string): Promise<RequestRecord | null>;
  findRequestByNonce(packageId: PackageId, nonce: string): Promise<RequestRecord | null>;
  /** Newest first (createdAt desc, id desc). */
  listRequests(filter: RequestFilter): Promise<Page<RequestRecord>>;
  /** pending → approved | rejected; false when the request was not pending. */
  /** `by` is null when an approval policy decided (no user did). */
  decideRequest(
    id: RequestId,
    decision: { state: 'approved' | 'rejected'; at: Date; by: UserId | null; reason: string | null },
  ): Promise<boolean>;
  /** Records the approval policy's verdict on a request (any state). */
  setRequestPolicyVerdict(id: RequestId, verdict: PolicyVerdict): Promise<void>;
  /**
   * Reads the rows an approval rests on (the approver, the system, the component, the package;
   * null ids are not read), locked for share until the transaction ends on PostgreSQL (SQLite
   * already has one writer): a concurrent change of any of them — a package revoked, a mock
   * switch or a user changed — waits for the approval to commit, and an approval that comes
   * second waits for the change and reads its result. Never the rows the approval then updates
   * (request, device): upgrading a share lock there would deadlock two concurrent approvals.
   */
  readApprovalRows(ids: { userId: UserId | null; systemId: SystemId; componentId: ComponentId; packageId: PackageId | null }): Promise<ApprovalRows>;

  // approval policies (one per system, one per component)
  /** The policy of exactly this scope (componentId null: the system's own). */
  findApprovalPolicy(systemId: SystemId, componentId: ComponentId | null): Promise<ApprovalPolicyRecord | null>;
  /** Inserts, or replaces mode and rules (and updatedAt/updatedBy) of the policy of the same scope. */
  saveApprovalPolicy(policy: ApprovalPolicyRecord): Promise<ApprovalPolicyRecord>;
  /**
   * Automatic approvals (policy verdict 'approve', decided at or after `since`) in the system,
   * or in one component of it. With `lockPolicyId` the policy row is locked first (PostgreSQL
   * `FOR UPDATE`; SQLite already has one writer), so concurrent intakes count one at a time.
   */
  countAutoApprovals(scope: { systemId: SystemId; componentId: ComponentId | null; since: Date; lockPolicyId?: string }): Promise<number>;

  // enrollment protocols ((scope, protocol) unique; docs/protocols.md)
  /** Switches a protocol on for a scope; false when it was on already (the first row stays). */
  enableProtocol(on: ProtocolSwitch): Promise<boolean>;
  /** Switches a protocol off for exactly this scope; false when it was not on there. */
  disableProtocol(systemId: SystemId, componentId: ComponentId | null, protocol: EnrollmentProtocol): Promise<boolean>;
  /** Every switch, or those of one system; by system, then the system's own before its components', then protocol. */
  listProtocolSwitches(systemId?: SystemId): Promise<ProtocolSwitch[]>;

  // CMP transactions (transactionId unique, senderNonce unique)
  insertCmpTransaction(transaction: CmpTransaction): Promise<void>;
  findCmpTransaction(transactionId: string): Promise<CmpTransaction | null>;
  /** Whether any transaction opened with this senderNonce (a replayed message). */
  findCmpTransactionByNonce(senderNonce: string): Promise<CmpTransaction | null>;
  /** Compare-and-set on state: moves it to `to` with the service's new nonce; false when it was not in `from`. */
  updateCmpTransaction(
    transactionId: string,
    from: readonly CmpTransactionState[],
    to: CmpTransactionState,
    changes: { serverNonce: string; at: Date; serial?: string; deviceId?: string },
  ): Promise<boolean>;

  // devices (deviceId unique)
  insertDevice(device: DeviceRecord): Promise<void>;
  findDevice(deviceId: DeviceIdText): Promise<DeviceRecord | null>;
  /** Ordered by `filter.sort` (default updatedAt desc), then deviceId ascending. */
  listDevices(filter: DeviceFilter): Promise<Page<DeviceRecord>>;
  /**
   * Records a check-in at the central station (last seen, the certificate presented, telemetry);
   * leaves state and updatedAt as they are. Answers what the service asks of the device (an
   * outstanding reprovisioning: when it was asked for); null when no device has this id.
   */
  recordCheckIn(deviceId: DeviceIdText, checkIn: DeviceCheckIn): Promise<{ readonly reprovisionRequestedAt: Date | null } | null>;
  /**
   * Compare-and-set of the device's outstanding reprovisioning ask: sets `to` (null clears it)
   * only when the current ask was made at `expectedAt` (null: none is outstanding). Leaves state
   * and updatedAt as they are. False when it did not match (or no device has this id).
   */
  setReprovisionAsk(deviceId: DeviceIdText, expectedAt: Date | null, to: ReprovisionAsk | null): Promise<boolean>;
  /** Compare-and-set on state; also sets updatedAt, and provisionedAt when entering 'provisioned'. */
  transitionDevice(
    deviceId: DeviceIdText,
    from: readonly DeviceState[],
    to: DeviceState,
    at: Date,
    changes?: { currentRequestId?: RequestId },
  ): Promise<boolean>;

  // certificates ((issuerFingerprint, serial) unique; requestId unique when not null)
  insertCertificate(certificate: CertificateRecord): Promise<void>;
  findCertificate(issuerFingerprint: string, serial: SerialNumber): Promise<CertificateRecord | null>;
  findCertificateByRequest(requestId: RequestId): Promise<CertificateRecord | null>;
  /** Newest first. */
  listCertificatesForDevice(deviceId: DeviceIdText): Promise<CertificateRecord[]>;
  /** Every certificate (any kind, any status, any issuer) of the key with this SPKI SHA-256, newest first. */
  findCertificatesByPublicKey(publicKeySha256: string): Promise<CertificateRecord[]>;

  // blocked keys (publicKeySha256 unique): keys revoked for keyCompromise
  /** Records a blocked key once; false when it was already blocked (the first entry stays). */
  blockKey(key: BlockedKey): Promise<boolean>;
  findBlockedKey(publicKeySha256: string): Promise<BlockedKey | null>;

  /** active → revoked with an RFC 5280 reason (compare-and-set); false when it was not active. */
  revokeCertificate(issuerFingerprint: string, serial: SerialNumber, revocation: { at: Date; reason: RevocationReason }): Promise<boolean>;
  /**
   * Active certificates (any kind) still valid at `now` that expire at or before `before`,
   * soonest first (notAfter, then serial), optionally of one kind. `withoutNotice` leaves out those that already have a
   * notice of that kind.
   */
  listExpiringCertificates(filter: { now: Date; before: Date; kind?: string; withoutNotice?: string; limit: number; offset: number }): Promise<Page<CertificateRecord>>;
  /**
   * The current, active, unexpired certificates of approved or provisioned devices that are past
   * two thirds of their lifetime at `now` (overdue for renewal), soonest to expire first.
   */
  listRenewalOverdueCertificates(filter: { now: Date; limit: number; offset: number }): Promise<Page<CertificateRecord>>;
  /** Records a notice about a certificate once; false when one of this kind was already recorded. */
  insertCertificateNotice(issuerFingerprint: string, serial: SerialNumber, kind: string, at: Date): Promise<boolean>;
  /** Every revoked certificate of this issuer, by serial: what its CRL lists. */
  listRevokedCertificates(issuerFingerprint: string): Promise<RevokedCertificate[]>;

  // CRLs (one state row per issuer)
  /**
   * Reserves the next CRL number of this issuer (the first is 1): increments the counter under
   * its row lock, which is held until the transaction ends, so concurrent publishers (another
   * server on the same PostgreSQL) wait and then take the next number. Inside a transaction only.
   */
  reserveCrlNumber(issuerFingerprint: string): Promise<number>;
  /** Stores the CRL carrying the number just reserved; refuses (Error) any other number. */
  saveCrl(crl: CrlRecord): Promise<void>;
  /** The newest CRL of this issuer, or null before the first was published. */
  findCrl(issuerFingerprint: string): Promise<CrlRecord | null>;

  // certified profiles (requestId unique)
  insertProfile(profile: ProfileRecord): Promise<void>;
  findProfile(requestId: RequestId): Promise<ProfileRecord | null>;

  // proxy gateways (name unique; certificateFingerprint unique)
  insertGateway(gateway: GatewayRecord): Promise<void>;
  findGatewayByName(name: string): Promise<GatewayRecord | null>;
  findGatewayById(id: GatewayId): Promise<GatewayRecord | null>;
  findGatewayByFingerprint(certificateFingerprint: string): Promise<GatewayRecord | null>;
  /** Ordered by name. */
  listGateways(): Promise<GatewayRecord[]>;
  /** Sets revokedAt; false when it was already revoked (or does not exist). */
  revokeGateway(id: GatewayId, at: Date): Promise<boolean>;

  // one-time enrollment tokens (id unique)
  insertEnrollmentToken(token: EnrollmentTokenRecord): Promise<void>;
  findEnrollmentToken(id: EnrollmentTokenId): Promise<EnrollmentTokenRecord | null>;
  /** Newest first (createdAt desc, id desc), optionally of one system. */
  listEnrollmentTokens(filter: { systemId?: SystemId }): Promise<EnrollmentTokenRecord[]>;
  /**
   * Counts one use (compare-and-set: uses = expectedUses, below maxUses, not revoked) and sets
   * lastUsedAt; false when another use or a revocation came first.
   */
  useEnrollmentToken(id: EnrollmentTokenId, use: { expectedUses: number; at: Date }): Promise<boolean>;
  /** Sets revokedAt; false when it was already revoked (or does not exist). */
  revokeEnrollmentToken(id: EnrollmentTokenId, at: Date): Promise<boolean>;

  // pairing codes (deviceId unique)
  /** Inserts, or replaces the device's record when `replace` is true (a new code for it). */
  savePairingCode(record: PairingCodeRecord, options: { replace: boolean }): Promise<void>;
  findPairingCode(deviceId: DeviceIdText): Promise<PairingCodeRecord | null>;
  /** Newest first (createdAt desc, device id), optionally of one system. */
  listPairingCodes(filter: { systemId?: SystemId }): Promise<PairingCodeRecord[]>;
  /**
   * Counts one wrong code (compare-and-set on failedAttempts = expected, not locked); sets
   * lockedAt when `lockAt` is given. False when another attempt counted first.
   */
  recordPairingFailure(deviceId: DeviceIdText, failure: { expectedFailures: number; lockAt: Date | null }): Promise<boolean>;
  /** Marks the code used (compare-and-set: not used, not revoked, not locked). */
  usePairingCode(deviceId: DeviceIdText, use: { at: Date; requestId: RequestId; csrSha256: string }): Promise<boolean>;
  revokePairingCode(deviceId: DeviceIdText, at: Date): Promise<boolean>;
  /** Clears the count of wrong codes and the lock; false when there is no record. */
  resetPairingCode(deviceId: DeviceIdText): Promise<boolean>;

  // audit log
  /**
   * Appends after the current last entry: assigns seq = last + 1 and prevHash = last hash, and
   * computes hash with `hashAuditEntry` (src/audit). Serialized against concurrent appends
   * (PostgreSQL: a row lock on the chain head; SQLite: one writer).
   */
  appendAudit(event: AuditEvent): Promise<AuditEntry>;
  insertCheckpoint(checkpoint: AuditCheckpoint): Promise<void>;
}

export interface Store extends StoreTx {
  /** Runs `fn` in one durable transaction (SQLite synchronous=FULL, PostgreSQL synchronous commit). */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Oldest first, for verification; `fromSeq` inclusive. */
  readAudit(fromSeq: number, limit: number): Promise<AuditEntry[]>;
  listAudit(filter: AuditFilter): Promise<Page<AuditEntry>>;
  listCheckpoints(): Promise<AuditCheckpoint[]>;
  /**
   * The chain head appends keep (table audit_head): the last seq and its hash, 0 and GENESIS_HASH
   * before the first entry; null when the row is gone (verification reports it).
   */
  readAuditHead(): Promise<AuditHead | null>;
  /** SQLite `PRAGMA integrity_check` / a trivial query on PostgreSQL. */
  checkIntegrity(): Promise<boolean>;
  close(): Promise<void>;
}
