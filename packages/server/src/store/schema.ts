/**
 * The tables as Kysely sees them: one row type per table, identical on SQLite and PostgreSQL.
 * docs/storage.md explains the choices; in short:
 * - ids are text; times are BIGINT milliseconds since the Unix epoch (UTC), the same number on
 *   both databases and exactly a JS `Date`'s precision;
 * - booleans are INTEGER 0/1 (SQLite has no boolean type; one representation keeps one query layer);
 * - binary is BLOB (SQLite) / BYTEA (PostgreSQL), read back as `Buffer` by both drivers;
 * - JSON (component key types, audit details) is text.
 */

/** Epoch milliseconds (UTC). */
export type Millis = number;
/** 0 or 1. */
export type Flag = number;

export interface UsersTable {
  id: string;
  username: string;
  role: string;
  password_hash: string | null;
  created_at: Millis;
  disabled_at: Millis | null;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  token_hash: Buffer;
  name: string;
  created_at: Millis;
  revoked_at: Millis | null;
}

export interface SystemsTable {
  id: string;
  name: string;
  allow_mock: Flag;
  created_at: Millis;
  separation_of_duties: Flag;
  /** Migration 13: a valid enrollment token or pairing code counts as the approval. */
  enrollment_secret_approves: Flag;
  /** Migration 14: a pairing may have the service generate the device key. */
  central_key_generation: Flag;
}

export interface ComponentsTable {
  id: string;
  system_id: string;
  name: string;
  /** JSON array of KeyType. */
  key_types: string;
  validity_days: number;
  /** Migration 6: days after expiry a certificate may still renew (docs/lifecycle.md). */
  renewal_grace_days: number;
  created_at: Millis;
}

export interface PackagesTable {
  id: string;
  system_id: string;
  status: string;
  bootstrap_certificate: Buffer;
  bootstrap_fingerprint: string;
  request_lifetime_seconds: number;
  expires_at: Millis;
  created_at: Millis;
  created_by: string;
  revoked_at: Millis | null;
}

export interface RequestsTable {
  id: string;
  /** Null (migration 13) for a request made with an enrollment token or pairing code. */
  package_id: string | null;
  system_id: string;
  component_id: string;
  device_id: string;
  device_label: string;
  hardware_serial: string | null;
  firmware_version: string | null;
  nonce: string;
  content_hash: string;
  raw: Buffer;
  public_key_fingerprint: string;
  key_algorithm: string;
  mock: Flag;
  transport: string;
  state: string;
  created_at: Millis;
  expires_at: Millis;
  submitted_by: string | null;
  decided_at: Millis | null;
  decided_by: string | null;
  decision_reason: string | null;
  /** Migration 2: the approval policy's verdict ('approve' | 'manual') and which rule decided why. */
  policy_decision: string | null;
  policy_rule: string | null;
  policy_reason: string | null;
  /** Migration 3: the proxy gateway that carried the request. */
  gateway_id: string | null;
  /** Migration 6: null for a provisioning request; 'renewal' or 'reprovision' (docs/lifecycle.md). */
  kind: string | null;
  /** Migration 13: 'token' or 'pairing-code' and its id; null for a package's request. */
  enrollment_kind: string | null;
  enrollment_id: string | null;
  /** Migration 15: the enrollment protocol it came by ('est', 'cmp'); raw is then its CSR. */
  protocol: string | null;
}

/** Migration 14: devices pre-registered with a pairing code (docs/service.md "Pairing codes"). */
export interface PairingCodesTable {
  device_id: string;
  system_id: string;
  component_id: string;
  device_label: string;
  code_hash: string;
  failed_attempts: number;
  locked_at: Millis | null;
  expires_at: Millis;
  created_at: Millis;
  created_by: string;
  revoked_at: Millis | null;
  used_at: Millis | null;
  used_request_id: string | null;
  used_csr_sha256: string | null;
}

/** Migration 13: one-time enrollment tokens (docs/service.md "Enrollment tokens"). */
export interface EnrollmentTokensTable {
  id: string;
  system_id: string;
  component_id: string;
  device_id: string | null;
  device_pattern: string | null;
  secret_sha256: Buffer;
  max_uses: number;
  uses: number;
  expires_at: Millis;
  created_at: Millis;
  created_by: string;
  revoked_at: Millis | null;
  last_used_at: Millis | null;
}

/** Migration 15: a protocol (est, cmp, scep) a system, or one of its components, accepts. */
export interface EnrollmentProtocolsTable {
  system_id: string;
  component_id: string | null;
  /** "<system_id>/<component_id or *>", as approval_policies.scope_key. */
  scope_key: string;
  protocol: string;
  enabled_at: Millis;
  enabled_by: string;
}

/** Migration 15: CMP transactions (RFC 4210 §5.1.1 transactionID, senderNonce, recipNonce). */
export interface CmpTransactionsTable {
  /** Hex of the transactionID octets. */
  transaction_id: string;
  /** Hex of the client's senderNonce in the transaction's first message. */
  sender_nonce: string;
  /** Hex of the senderNonce of the service's latest answer: the client's next recipNonce. */
  server_nonce: string;
  body_type: string;
  state: string;
  device_id: string | null;
  request_id: string | null;
  serial: string | null;
  created_at: Millis;
  updated_at: Millis;
}

/** Migration 3: proxy gateways (docs/proxy.md). */
export interface GatewaysTable {
  id: string;
  name: string;
  /** JSON array of the certificate's DNS names and IP addresses. */
  hosts: string;
  certificate_serial: string;
  certificate_fingerprint: string;
  created_at: Millis;
  created_by: string;
  revoked_at: Millis | null;
}

/** Migration 2: one approval policy per scope (a system, or one of its components). */
export interface ApprovalPoliciesTable {
  id: string;
  system_id: string;
  /** Null for the system's own policy. */
  component_id: string | null;
  /** "<system_id>/<component_id or *>": unique, the same on both databases (NULLs are never equal in UNIQUE). */
  scope_key: string;
  mode: string;
  /** JSON of PolicyRules. */
  rules: string;
  created_at: Millis;
  created_by: string;
  updated_at: Millis;
  updated_by: string;
}

export interface DevicesTable {
  device_id: string;
  system_id: string;
  component_id: string;
  label: string;
  state: string;
  mock: Flag;
  current_request_id: string;
  created_at: Millis;
  updated_at: Millis;
  provisioned_at: Millis | null;
  /** The last check-in at the central station (migration 5); null: never seen. */
  last_seen_at: Millis | null;
  last_seen_serial: string | null;
  /** The telemetry of that check-in, canonical JSON. */
  last_telemetry: string | null;
  /** An outstanding reprovisioning asked for by an admin (migration 8); all null: none. */
  reprovision_requested_at: Millis | null;
  reprovision_requested_by: string | null;
  reprovision_reason: string | null;
  /**
   * The device's newest pending request (migration 9): id, kind ('provision', 'renewal',
   * 'reprovision') and expiry; all null when none. Kept by the store (kysely-store.ts
   * `refreshPendingRequest`) in the transactions that insert or decide requests.
   */
  pending_request_id: string | null;
  pending_request_kind: string | null;
  pending_request_expires_at: Millis | null;
}

export interface CertificatesTable {
  issuer_fingerprint: string;
  serial: string;
  device_id: string | null;
  request_id: string | null;
  kind: string;
  der: Buffer;
  fingerprint: string;
  not_before: Millis;
  not_after: Millis;
  status: string;
  revoked_at: Millis | null;
  revocation_reason: string | null;
  created_at: Millis;
  /** SHA-256 of the certified SubjectPublicKeyInfo (migration 11); null only for a row whose DER did not parse then. */
  public_key_sha256: string | null;
}

/** Keys whose certificate was revoked for keyCompromise (migration 11): never certified again. */
export interface BlockedKeysTable {
  public_key_sha256: string;
  blocked_at: Millis;
  issuer_fingerprint: string;
  serial: string;
}

export interface ProfilesTable {
  request_id: string;
  device_id: string;
  content: Buffer;
  created_at: Millis;
}

export interface AuditLogTable {
  seq: number;
  at: Millis;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  /** canonicalJson(details): parsing and re-canonicalizing gives the hashed bytes back. */
  details: string;
  prev_hash: string;
  hash: string;
}

export interface AuditCheckpointsTable {
  seq: number;
  hash: string;
  at: Millis;
  signature: Buffer;
  signer_certificate: Buffer;
}

/** One row (id = 1): the chain's last seq and hash; its row lock serializes appends on PostgreSQL. */
export interface AuditHeadTable {
  id: number;
  last_seq: number;
  last_hash: string;
}

/**
 * One row per issuing CA: the newest CRL it published and its number. The number is reserved
 * and the CRL saved in one transaction under this row's lock, so numbers only rise, across
 * restarts and across servers sharing one database (security.md I6).
 */
export interface CrlStateTable {
  issuer_fingerprint: string;
  crl_number: number;
  this_update: Millis | null;
  next_update: Millis | null;
  der: Buffer | null;
}

/** Notices already written to the audit log about a certificate (kind 'expiring'), one each. */
export interface CertificateNoticesTable {
  issuer_fingerprint: string;
  serial: string;
  kind: string;
  at: Millis;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: Millis;
}

export interface Database {
  users: UsersTable;
  api_tokens: ApiTokensTable;
  systems: SystemsTable;
  components: ComponentsTable;
  packages: PackagesTable;
  requests: RequestsTable;
  devices: DevicesTable;
  certificates: CertificatesTable;
  profiles: ProfilesTable;
  audit_log: AuditLogTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_head: AuditHeadTable;
  schema_migrations: SchemaMigrationsTable;
  approval_policies: ApprovalPoliciesTable;
  gateways: GatewaysTable;
  crl_state: CrlStateTable;
  certificate_notices: CertificateNoticesTable;
  blocked_keys: BlockedKeysTable;
  enrollment_protocols: EnrollmentProtocolsTable;
  cmp_transactions: CmpTransactionsTable;
  enrollment_tokens: EnrollmentTokensTable;
  pairing_codes: PairingCodesTable;
}

/**
 * Every unique constraint (primary keys included) by name, with its table and columns. PostgreSQL
 * reports the name of the violated constraint; SQLite reports "table.column, …", which is mapped
 * back to the name through this table, so `StoreConflict.constraint` reads the same on both.
 */
export const UNIQUE_CONSTRAINTS: Readonly<Record<string, { table: keyof Database; columns: readonly string[] }>> = {
  users_pkey: { table: 'users', columns: ['id'] },
  users_username_key: { table: 'users', columns: ['username'] },
  api_tokens_pkey: { table: 'api_tokens', columns: ['id'] },
  api_tokens_token_hash_key: { table: 'api_tokens', columns: ['token_hash'] },
  systems_pkey: { table: 'systems', columns: ['id'] },
  systems_name_key: { table: 'systems', columns: ['name'] },
  components_pkey: { table: 'components', columns: ['id'] },
  components_system_id_name_key: { table: 'components', columns: ['system_id', 'name'] },
  packages_pkey: { table: 'packages', columns: ['id'] },
  requests_pkey: { table: 'requests', columns: ['id'] },
  requests_package_id_nonce_key: { table: 'requests', columns: ['package_id', 'nonce'] },
  requests_content_hash_key: { table: 'requests', columns: ['content_hash'] },
  devices_pkey: { table: 'devices', columns: ['device_id'] },
  certificates_pkey: { table: 'certificates', columns: ['issuer_fingerprint', 'serial'] },
  /** A partial unique index (request_id IS NOT NULL), not a table constraint. */
  certificates_request_id_key: { table: 'certificates', columns: ['request_id'] },
  profiles_pkey: { table: 'profiles', columns: ['request_id'] },
  audit_log_pkey: { table: 'audit_log', columns: ['seq'] },
  audit_checkpoints_pkey: { table: 'audit_checkpoints', columns: ['seq'] },
  audit_head_pkey: { table: 'audit_head', columns: ['id'] },
  schema_migrations_pkey: { table: 'schema_migrations', columns: ['version'] },
  approval_policies_pkey: { table: 'approval_policies', columns: ['id'] },
  approval_policies_scope_key: { table: 'approval_policies', columns: ['scope_key'] },
  gateways_pkey: { table: 'gateways', columns: ['id'] },
  gateways_name_key: { table: 'gateways', columns: ['name'] },
  gateways_certificate_fingerprint_key: { table: 'gateways', columns: ['certificate_fingerprint'] },
  crl_state_pkey: { table: 'crl_state', columns: ['issuer_fingerprint'] },
  certificate_notices_pkey: { table: 'certificate_notices', columns: ['issuer_fingerprint', 'serial', 'kind'] },
  blocked_keys_pkey: { table: 'blocked_keys', columns: ['public_key_sha256'] },
  enrollment_protocols_pkey: { table: 'enrollment_protocols', columns: ['scope_key', 'protocol'] },
  cmp_transactions_pkey: { table: 'cmp_transactions', columns: ['transaction_id'] },
  cmp_transactions_sender_nonce_key: { table: 'cmp_transactions', columns: ['sender_nonce'] },
  enrollment_tokens_pkey: { table: 'enrollment_tokens', columns: ['id'] },
  pairing_codes_pkey: { table: 'pairing_codes', columns: ['device_id'] },
};
