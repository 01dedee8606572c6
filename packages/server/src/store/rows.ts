/**
 * Records ⇄ rows. Explicit, one function each way per table: times as epoch milliseconds,
 * booleans as 0/1, JSON as text, nulls as nulls (never undefined).
 */
import type { KeyType, RevocationReason, SerialNumber } from '@provisio/pki';
import type { Selectable } from 'kysely';
import { canonicalJson } from '../audit/audit-chain.js';
import type {
  ApiToken,
  ApprovalMode,
  ApprovalPolicyRecord,
  AuditCheckpoint,
  AuditEntry,
  BlockedKey,
  CertificateRecord,
  CertificateStatus,
  CmpTransaction,
  CmpTransactionState,
  ComponentId,
  ComponentRecord,
  CrlRecord,
  DeviceIdText,
  DeviceRecord,
  DeviceState,
  EnrollmentProtocol,
  ProtocolSwitch,
  EnrollmentSecretKind,
  EnrollmentTokenId,
  EnrollmentTokenRecord,
  PairingCodeRecord,
  Telemetry,
  GatewayId,
  GatewayRecord,
  PackageId,
  PackageRecord,
  PendingRequestKind,
  PackageStatus,
  PolicyRules,
  PolicyVerdict,
  ProfileRecord,
  RequestId,
  ReprovisionAsk,
  RequestRecord,
  RequestKind,
  RequestState,
  Role,
  SystemId,
  SystemRecord,
  Transport,
  User,
  UserId,
} from '../domain/model.js';
import type {
  ApiTokensTable,
  ApprovalPoliciesTable,
  AuditCheckpointsTable,
  AuditLogTable,
  BlockedKeysTable,
  CertificatesTable,
  CmpTransactionsTable,
  ComponentsTable,
  CrlStateTable,
  DevicesTable,
  EnrollmentProtocolsTable,
  EnrollmentTokensTable,
  GatewaysTable,
  PairingCodesTable,
  PackagesTable,
  ProfilesTable,
  RequestsTable,
  SystemsTable,
  UsersTable,
} from './schema.js';

export function toMillis(date: Date): number {
  const ms = date instanceof Date ? date.getTime() : Number.NaN;
  if (Number.isNaN(ms)) throw new TypeError('expected a valid Date');
  return ms;
}

export function toMillisOrNull(date: Date | null): number | null {
  return date === null ? null : toMillis(date);
}

/** pg returns BIGINT as a string unless told otherwise; open-store tells it, Number() is a safety net. */
function fromMillis(ms: number | string): Date {
  return new Date(Number(ms));
}

export function fromMillisOrNull(ms: number | string | null): Date | null {
  return ms === null ? null : fromMillis(ms);
}

const flag = (value: boolean): number => (value ? 1 : 0);
const isSet = (value: number): boolean => Number(value) === 1;

export const userToRow = (u: User): Selectable<UsersTable> => ({
  id: u.id,
  username: u.username,
  role: u.role,
  password_hash: u.passwordHash,
  created_at: toMillis(u.createdAt),
  disabled_at: toMillisOrNull(u.disabledAt),
});

export const userFromRow = (r: Selectable<UsersTable>): User => ({
  id: r.id as UserId,
  username: r.username,
  role: r.role as Role,
  passwordHash: r.password_hash,
  createdAt: fromMillis(r.created_at),
  disabledAt: fromMillisOrNull(r.disabled_at),
});

export const tokenToRow = (t: ApiToken): Selectable<ApiTokensTable> => ({
  id: t.id,
  user_id: t.userId,
  token_hash: Buffer.from(t.tokenHash),
  name: t.name,
  created_at: toMillis(t.createdAt),
  revoked_at: toMillisOrNull(t.revokedAt),
});

export const tokenFromRow = (r: Selectable<ApiTokensTable>): ApiToken => ({
  id: r.id,
  userId: r.user_id as UserId,
  tokenHash: Buffer.from(r.token_hash),
  name: r.name,
  createdAt: fromMillis(r.created_at),
  revokedAt: fromMillisOrNull(r.revoked_at),
});

export const systemToRow = (s: SystemRecord): Selectable<SystemsTable> => ({
  id: s.id,
  name: s.name,
  allow_mock: flag(s.allowMock),
  created_at: toMillis(s.createdAt),
  separation_of_duties: flag(s.separationOfDuties),
  enrollment_secret_approves: flag(s.enrollmentSecretApproves),
  central_key_generation: flag(s.centralKeyGeneration),
});

export const systemFromRow = (r: Selectable<SystemsTable>): SystemRecord => ({
  id: r.id as SystemId,
  name: r.name,
  allowMock: isSet(r.allow_mock),
  separationOfDuties: isSet(r.separation_of_duties),
  enrollmentSecretApproves: isSet(r.enrollment_secret_approves),
  centralKeyGeneration: isSet(r.central_key_generation),
  createdAt: fromMillis(r.created_at),
});

export const componentToRow = (c: ComponentRecord): Selectable<ComponentsTable> => ({
  id: c.id,
  system_id: c.systemId,
  name: c.name,
  key_types: JSON.stringify(c.keyTypes),
  validity_days: c.validityDays,
  renewal_grace_days: c.renewalGraceDays,
  created_at: toMillis(c.createdAt),
});

export const componentFromRow = (r: Selectable<ComponentsTable>): ComponentRecord => ({
  id: r.id as ComponentId,
  systemId: r.system_id as SystemId,
  name: r.name,
  keyTypes: JSON.parse(r.key_types) as KeyType[],
  validityDays: Number(r.validity_days),
  renewalGraceDays: Number(r.renewal_grace_days ?? 0),
  createdAt: fromMillis(r.created_at),
});

export const packageToRow = (p: PackageRecord): Selectable<PackagesTable> => ({
  id: p.id,
  system_id: p.systemId,
  status: p.status,
  bootstrap_certificate: Buffer.from(p.bootstrapCertificate),
  bootstrap_fingerprint: p.bootstrapFingerprint,
  request_lifetime_seconds: p.requestLifetimeSeconds,
  expires_at: toMillis(p.expiresAt),
  created_at: toMillis(p.createdAt),
  created_by: p.createdBy,
  revoked_at: toMillisOrNull(p.revokedAt),
});

export const packageFromRow = (r: Selectable<PackagesTable>): PackageRecord => ({
  id: r.id as PackageId,
  systemId: r.system_id as SystemId,
  status: r.status as PackageStatus,
  bootstrapCertificate: Buffer.from(r.bootstrap_certificate),
  bootstrapFingerprint: r.bootstrap_fingerprint,
  requestLifetimeSeconds: Number(r.request_lifetime_seconds),
  expiresAt: fromMillis(r.expires_at),
  createdAt: fromMillis(r.created_at),
  createdBy: r.created_by as UserId,
  revokedAt: fromMillisOrNull(r.revoked_at),
});

export const requestToRow = (q: RequestRecord): Selectable<RequestsTable> => ({
  id: q.id,
  package_id: q.packageId,
  system_id: q.systemId,
  component_id: q.componentId,
  device_id: q.deviceId,
  device_label: q.deviceLabel,
  hardware_serial: q.hardwareSerial,
  firmware_version: q.firmwareVersion,
  nonce: q.nonce,
  content_hash: q.contentHash,
  raw: Buffer.from(q.raw),
  public_key_fingerprint: q.publicKeyFingerprint,
  key_algorithm: q.keyAlgorithm,
  mock: flag(q.mock),
  transport: q.transport,
  state: q.state,
  created_at: toMillis(q.createdAt),
  expires_at: toMillis(q.expiresAt),
  submitted_by: q.submittedBy,
  decided_at: toMillisOrNull(q.decidedAt),
  decided_by: q.decidedBy,
  decision_reason: q.decisionReason,
  policy_decision: q.policy?.decision ?? null,
  policy_rule: q.policy?.rule ?? null,
  policy_reason: q.policy?.reason ?? null,
  gateway_id: q.gatewayId ?? null,
  kind: q.kind ?? null,
  protocol: q.protocol ?? null,
  enrollment_kind: q.enrollment?.kind ?? null,
  enrollment_id: q.enrollment?.id ?? null,
});

export const requestFromRow = (r: Selectable<RequestsTable>): RequestRecord => ({
  id: r.id as RequestId,
  packageId: r.package_id as PackageId | null,
  systemId: r.system_id as SystemId,
  componentId: r.component_id as ComponentId,
  deviceId: r.device_id as DeviceIdText,
  deviceLabel: r.device_label,
  hardwareSerial: r.hardware_serial,
  firmwareVersion: r.firmware_version,
  nonce: r.nonce,
  contentHash: r.content_hash,
  raw: Buffer.from(r.raw),
  publicKeyFingerprint: r.public_key_fingerprint,
  keyAlgorithm: r.key_algorithm,
  mock: isSet(r.mock),
  transport: r.transport as Transport,
  state: r.state as RequestState,
  createdAt: fromMillis(r.created_at),
  expiresAt: fromMillis(r.expires_at),
  submittedBy: r.submitted_by as UserId | null,
  decidedAt: fromMillisOrNull(r.decided_at),
  decidedBy: r.decided_by as UserId | null,
  decisionReason: r.decision_reason,
  // Absent rather than null when no verdict was recorded, so records made without one round-trip.
  ...(r.policy_decision === null || r.policy_decision === undefined
    ? {}
    : { policy: { decision: r.policy_decision as PolicyVerdict['decision'], rule: r.policy_rule ?? '', reason: r.policy_reason ?? '' } }),
  ...(r.gateway_id === null || r.gateway_id === undefined ? {} : { gatewayId: r.gateway_id as GatewayId }),
  ...(r.kind === null || r.kind === undefined ? {} : { kind: r.kind as RequestKind }),
  ...(r.protocol === null || r.protocol === undefined ? {} : { protocol: r.protocol as EnrollmentProtocol }),
  ...(r.enrollment_kind === null || r.enrollment_kind === undefined ? {} : { enrollment: { kind: r.enrollment_kind as EnrollmentSecretKind, id: r.enrollment_id ?? '' } }),
});

export const pairingCodeToRow = (c: PairingCodeRecord): Selectable<PairingCodesTable> => ({
  device_id: c.deviceId,
  system_id: c.systemId,
  component_id: c.componentId,
  device_label: c.deviceLabel,
  code_hash: c.codeHash,
  failed_attempts: c.failedAttempts,
  locked_at: toMillisOrNull(c.lockedAt),
  expires_at: toMillis(c.expiresAt),
  created_at: toMillis(c.createdAt),
  created_by: c.createdBy,
  revoked_at: toMillisOrNull(c.revokedAt),
  used_at: toMillisOrNull(c.usedAt),
  used_request_id: c.usedRequestId,
  used_csr_sha256: c.usedCsrSha256,
});

export const pairingCodeFromRow = (r: Selectable<PairingCodesTable>): PairingCodeRecord => ({
  deviceId: r.device_id as DeviceIdText,
  systemId: r.system_id as SystemId,
  componentId: r.component_id as ComponentId,
  deviceLabel: r.device_label,
  codeHash: r.code_hash,
  failedAttempts: Number(r.failed_attempts),
  lockedAt: fromMillisOrNull(r.locked_at),
  expiresAt: fromMillis(r.expires_at),
  createdAt: fromMillis(r.created_at),
  createdBy: r.created_by as UserId,
  revokedAt: fromMillisOrNull(r.revoked_at),
  usedAt: fromMillisOrNull(r.used_at),
  usedRequestId: r.used_request_id as RequestId | null,
  usedCsrSha256: r.used_csr_sha256,
});

export const enrollmentTokenToRow = (t: EnrollmentTokenRecord): Selectable<EnrollmentTokensTable> => ({
  id: t.id,
  system_id: t.systemId,
  component_id: t.componentId,
  device_id: t.deviceId,
  device_pattern: t.devicePattern,
  secret_sha256: Buffer.from(t.secretSha256),
  max_uses: t.maxUses,
  uses: t.uses,
  expires_at: toMillis(t.expiresAt),
  created_at: toMillis(t.createdAt),
  created_by: t.createdBy,
  revoked_at: toMillisOrNull(t.revokedAt),
  last_used_at: toMillisOrNull(t.lastUsedAt),
});

export const enrollmentTokenFromRow = (r: Selectable<EnrollmentTokensTable>): EnrollmentTokenRecord => ({
  id: r.id as EnrollmentTokenId,
  systemId: r.system_id as SystemId,
  componentId: r.component_id as ComponentId,
  deviceId: r.device_id as DeviceIdText | null,
  devicePattern: r.device_pattern,
  secretSha256: Buffer.from(r.secret_sha256),
  maxUses: Number(r.max_uses),
  uses: Number(r.uses),
  expiresAt: fromMillis(r.expires_at),
  createdAt: fromMillis(r.created_at),
  createdBy: r.created_by as UserId,
  revokedAt: fromMillisOrNull(r.revoked_at),
  lastUsedAt: fromMillisOrNull(r.last_used_at),
});

export const gatewayToRow = (g: GatewayRecord): Selectable<GatewaysTable> => ({
  id: g.id,
  name: g.name,
  hosts: JSON.stringify(g.hosts),
  certificate_serial: g.certificateSerial,
  certificate_fingerprint: g.certificateFingerprint,
  created_at: toMillis(g.createdAt),
  created_by: g.createdBy,
  revoked_at: toMillisOrNull(g.revokedAt),
});

export const gatewayFromRow = (r: Selectable<GatewaysTable>): GatewayRecord => ({
  id: r.id as GatewayId,
  name: r.name,
  hosts: JSON.parse(r.hosts) as string[],
  certificateSerial: r.certificate_serial as SerialNumber,
  certificateFingerprint: r.certificate_fingerprint,
  createdAt: fromMillis(r.created_at),
  createdBy: r.created_by as UserId,
  revokedAt: fromMillisOrNull(r.revoked_at),
});

export const approvalPolicyToRow = (p: ApprovalPolicyRecord): Selectable<ApprovalPoliciesTable> => ({
  id: p.id,
  system_id: p.systemId,
  component_id: p.componentId,
  scope_key: `${p.systemId}/${p.componentId ?? '*'}`,
  mode: p.mode,
  rules: JSON.stringify(p.rules),
  created_at: toMillis(p.createdAt),
  created_by: p.createdBy,
  updated_at: toMillis(p.updatedAt),
  updated_by: p.updatedBy,
});

export const approvalPolicyFromRow = (r: Selectable<ApprovalPoliciesTable>): ApprovalPolicyRecord => ({
  id: r.id,
  systemId: r.system_id as SystemId,
  componentId: r.component_id as ComponentId | null,
  mode: r.mode as ApprovalMode,
  rules: JSON.parse(r.rules) as PolicyRules,
  createdAt: fromMillis(r.created_at),
  createdBy: r.created_by as UserId,
  updatedAt: fromMillis(r.updated_at),
  updatedBy: r.updated_by as UserId,
});

export const deviceToRow = (d: DeviceRecord): Selectable<DevicesTable> => ({
  device_id: d.deviceId,
  system_id: d.systemId,
  component_id: d.componentId,
  label: d.label,
  state: d.state,
  mock: flag(d.mock),
  current_request_id: d.currentRequestId,
  created_at: toMillis(d.createdAt),
  updated_at: toMillis(d.updatedAt),
  provisioned_at: toMillisOrNull(d.provisionedAt),
  last_seen_at: d.lastSeen ? toMillis(d.lastSeen.at) : null,
  last_seen_serial: d.lastSeen?.serial ?? null,
  last_telemetry: d.lastSeen ? canonicalJson(d.lastSeen.telemetry) : null,
  ...reprovisionAskToRow(d.reprovisionAsk ?? null),
  pending_request_id: d.pendingRequest?.id ?? null,
  pending_request_kind: d.pendingRequest?.kind ?? null,
  pending_request_expires_at: d.pendingRequest ? toMillis(d.pendingRequest.expiresAt) : null,
});

export const reprovisionAskToRow = (ask: ReprovisionAsk | null) => ({
  reprovision_requested_at: ask ? toMillis(ask.at) : null,
  reprovision_requested_by: ask?.by ?? null,
  reprovision_reason: ask?.reason ?? null,
});

export const deviceFromRow = (r: Selectable<DevicesTable>): DeviceRecord => ({
  deviceId: r.device_id as DeviceIdText,
  systemId: r.system_id as SystemId,
  componentId: r.component_id as ComponentId,
  label: r.label,
  state: r.state as DeviceState,
  mock: isSet(r.mock),
  currentRequestId: r.current_request_id as RequestId,
  createdAt: fromMillis(r.created_at),
  updatedAt: fromMillis(r.updated_at),
  provisionedAt: fromMillisOrNull(r.provisioned_at),
  lastSeen: r.last_seen_at === null || r.last_seen_serial === null
    ? null
    : { at: fromMillis(r.last_seen_at), serial: r.last_seen_serial as SerialNumber, telemetry: JSON.parse(r.last_telemetry ?? '{}') as Telemetry },
  reprovisionAsk: r.reprovision_requested_at === null || r.reprovision_requested_by === null
    ? null
    : { at: fromMillis(r.reprovision_requested_at), by: r.reprovision_requested_by as UserId, reason: r.reprovision_reason ?? '' },
  pendingRequest: r.pending_request_id === null || r.pending_request_kind === null || r.pending_request_expires_at === null
    ? null
    : { id: r.pending_request_id as RequestId, kind: r.pending_request_kind as PendingRequestKind, expiresAt: fromMillis(r.pending_request_expires_at) },
});

export const certificateToRow = (c: CertificateRecord): Selectable<CertificatesTable> => ({
  issuer_fingerprint: c.issuerFingerprint,
  serial: c.serial,
  device_id: c.deviceId,
  request_id: c.requestId,
  kind: c.kind,
  der: Buffer.from(c.der),
  fingerprint: c.fingerprint,
  not_before: toMillis(c.notBefore),
  not_after: toMillis(c.notAfter),
  status: c.status,
  revoked_at: toMillisOrNull(c.revokedAt),
  revocation_reason: c.revocationReason,
  created_at: toMillis(c.createdAt),
  public_key_sha256: c.publicKeySha256 ?? null,
});

export const certificateFromRow = (r: Selectable<CertificatesTable>): CertificateRecord => ({
  serial: r.serial as SerialNumber,
  issuerFingerprint: r.issuer_fingerprint,
  deviceId: r.device_id as DeviceIdText | null,
  requestId: r.request_id as RequestId | null,
  kind: r.kind,
  der: Buffer.from(r.der),
  fingerprint: r.fingerprint,
  notBefore: fromMillis(r.not_before),
  notAfter: fromMillis(r.not_after),
  status: r.status as CertificateStatus,
  revokedAt: fromMillisOrNull(r.revoked_at),
  revocationReason: r.revocation_reason as RevocationReason | null,
  createdAt: fromMillis(r.created_at),
  ...(r.public_key_sha256 !== null ? { publicKeySha256: r.public_key_sha256 } : {}),
});

export const blockedKeyToRow = (k: BlockedKey): Selectable<BlockedKeysTable> => ({
  public_key_sha256: k.publicKeySha256,
  blocked_at: toMillis(k.blockedAt),
  issuer_fingerprint: k.issuerFingerprint,
  serial: k.serial,
});

export const blockedKeyFromRow = (r: Selectable<BlockedKeysTable>): BlockedKey => ({
  publicKeySha256: r.public_key_sha256,
  blockedAt: fromMillis(r.blocked_at),
  issuerFingerprint: r.issuer_fingerprint,
  serial: r.serial as SerialNumber,
});

/** A published CRL; null while the row only holds a reserved number (never committed so). */
export const crlFromRow = (r: Selectable<CrlStateTable>): CrlRecord | null =>
  r.der === null || r.this_update === null || r.next_update === null
    ? null
    : {
        issuerFingerprint: r.issuer_fingerprint,
        crlNumber: Number(r.crl_number),
        thisUpdate: fromMillis(r.this_update),
        nextUpdate: fromMillis(r.next_update),
        der: Buffer.from(r.der),
      };

export const profileToRow = (p: ProfileRecord): Selectable<ProfilesTable> => ({
  request_id: p.requestId,
  device_id: p.deviceId,
  content: Buffer.from(p.content),
  created_at: toMillis(p.createdAt),
});

export const profileFromRow = (r: Selectable<ProfilesTable>): ProfileRecord => ({
  requestId: r.request_id as RequestId,
  deviceId: r.device_id as DeviceIdText,
  content: Buffer.from(r.content),
  createdAt: fromMillis(r.created_at),
});

export const auditToRow = (e: AuditEntry): Selectable<AuditLogTable> => ({
  seq: e.seq,
  at: toMillis(e.at),
  actor: e.actor,
  action: e.action,
  target_type: e.targetType,
  target_id: e.targetId,
  details: canonicalJson(e.details),
  prev_hash: e.prevHash,
  hash: e.hash,
});

export const auditFromRow = (r: Selectable<AuditLogTable>): AuditEntry => ({
  seq: Number(r.seq),
  at: fromMillis(r.at),
  actor: r.actor,
  action: r.action,
  targetType: r.target_type,
  targetId: r.target_id,
  details: parseDetails(r.details),
  prevHash: r.prev_hash,
  hash: r.hash,
});

/**
 * Details are written as canonical JSON, so they always parse; text that does not (a row edited
 * by hand) is returned under one key rather than thrown, so verification reports the entry as
 * edited instead of failing to read the log.
 */
function parseDetails(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  return { unparseableDetails: String(text) };
}

export const checkpointToRow = (c: AuditCheckpoint): Selectable<AuditCheckpointsTable> => ({
  seq: c.seq,
  hash: c.hash,
  at: toMillis(c.at),
  signature: Buffer.from(c.signature),
  signer_certificate: Buffer.from(c.signerCertificate),
});

export const checkpointFromRow = (r: Selectable<AuditCheckpointsTable>): AuditCheckpoint => ({
  seq: Number(r.seq),
  hash: r.hash,
  at: fromMillis(r.at),
  signature: Buffer.from(r.signature),
  signerCertificate: Buffer.from(r.signer_certificate),
});

export const protocolScopeKey = (systemId: SystemId, componentId: ComponentId | null): string => `${systemId}/${componentId ?? '*'}`;

export const protocolSwitchToRow = (p: ProtocolSwitch): Selectable<EnrollmentProtocolsTable> => ({
  system_id: p.systemId,
  component_id: p.componentId,
  scope_key: protocolScopeKey(p.systemId, p.componentId),
  protocol: p.protocol,
  enabled_at: toMillis(p.enabledAt),
  enabled_by: p.enabledBy,
});

export const protocolSwitchFromRow = (r: Selectable<EnrollmentProtocolsTable>): ProtocolSwitch => ({
  systemId: r.system_id as SystemId,
  componentId: r.component_id as ComponentId | null,
  protocol: r.protocol as EnrollmentProtocol,
  enabledAt: fromMillis(r.enabled_at),
  enabledBy: r.enabled_by as UserId,
});

export const cmpTransactionToRow = (t: CmpTransaction): Selectable<CmpTransactionsTable> => ({
  transaction_id: t.transactionId,
  sender_nonce: t.senderNonce,
  server_nonce: t.serverNonce,
  body_type: t.bodyType,
  state: t.state,
  device_id: t.deviceId,
  request_id: t.requestId,
  serial: t.serial,
  created_at: toMillis(t.createdAt),
  updated_at: toMillis(t.updatedAt),
});

export const cmpTransactionFromRow = (r: Selectable<CmpTransactionsTable>): CmpTransaction => ({
  transactionId: r.transaction_id,
  senderNonce: r.sender_nonce,
  serverNonce: r.server_nonce,
  bodyType: r.body_type,
  state: r.state as CmpTransactionState,
  deviceId: r.device_id as DeviceIdText | null,
  requestId: r.request_id as RequestId | null,
  serial: r.serial as SerialNumber | null,
  createdAt: fromMillis(r.created_at),
  updatedAt: fromMillis(r.updated_at),
});
