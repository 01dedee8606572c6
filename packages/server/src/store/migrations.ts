/**
 * Ordered schema migrations, run at start inside one transaction and recorded in
 * schema_migrations; a restart finds them recorded and runs nothing (docs/storage.md).
 * Written with Kysely's schema builder; the few types that differ between the databases come
 * from `columnTypes`. A migration, once released, is never edited: add a new one.
 */
import { parseCertificate, publicKeyFingerprint } from '@provisio/pki';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import { refreshPendingRequests } from './pending-requests.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Transaction<Database>, dialect: DialectName): Promise<void>;
}

function columnTypes(dialect: DialectName) {
  return {
    // SQLite INTEGER is 64-bit, and INTEGER PRIMARY KEY is the rowid.
    int64: dialect === 'sqlite' ? ('integer' as const) : ('bigint' as const),
    binary: dialect === 'sqlite' ? ('blob' as const) : ('bytea' as const),
  };
}

/** Arbitrary constant for pg_advisory_xact_lock: two servers starting at once migrate one at a time. */
const MIGRATION_LOCK_ID = 0x50524f56; // "PROV"

const GENESIS_HASH = '0'.repeat(64);

const initial: Migration = {
  version: 1,
  name: 'initial',
  async up(db, dialect) {
    const { int64, binary } = columnTypes(dialect);
    const s = db.schema;
    // Foreign keys are DEFERRABLE INITIALLY DEFERRED: checked at commit, so a transaction may
    // insert a device and the request it points at in either order.
    const deferred = <T extends { deferrable(): T; initiallyDeferred(): T }>(fk: T): T => fk.deferrable().initiallyDeferred();
    const flag = (column: string) => sql`${sql.ref(column)} in (0, 1)`;

    await s.createTable('users')
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('username', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('password_hash', 'text')
      .addColumn('created_at', int64, (c) => c.notNull())
      .addColumn('disabled_at', int64)
      .addPrimaryKeyConstraint('users_pkey', ['id'])
      .addUniqueConstraint('users_username_key', ['username'])
      .addCheckConstraint('users_role_check', sql`role in ('admin', 'approver', 'technician', 'auditor')`)
      .execute();

    await s.createTable('api_tokens')
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('token_hash', binary, (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('created_at', int64, (c) => c.notNull())
      .addColumn('revoked_at', int64)
      .addPrimaryKeyConstraint('api_tokens_pkey', ['id'])
      .addUniqueConstraint('api_tokens_token_hash_key', ['token_hash'])
      .addForeignKeyConstraint('api_tokens_user_id_fkey', ['user_id'], 'users', ['id'], deferred)
      .execute();
    await s.createIndex('api_tokens_user_id_idx').on('api_tokens').column('user_id').execute();

    await s.createTable('systems')
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('allow_mock', 'integer', (c) => c.notNull())
      .addColumn('created_at', int64, (c) => c.notNull())
      .addPrimaryKeyConstraint('systems_pkey', ['id'])
      .addUniqueConstraint('systems_name_key', ['name'])
      .addCheckConstraint('systems_allow_mock_check', flag('allow_mock'))
      .execute();

    await s.createTable('components')
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('system_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('key_types', 'text', (c) => c.notNull())
      .addColumn('validity_days', 'integer', (c) => c.notNull())
      .addColumn('created_at', int64, (c) => c.notNull())
      .addPrimaryKeyConstraint('components_pkey', ['id'])
      .addUniqueConstraint('components_system_id_name_key', ['system_id', 'name'])
      .addForeignKeyConstraint('components_system_id_fkey', ['system_id'], 'systems', ['id'], deferred)
      .execute();

    await s.createTable('packages')
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('system_id', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('bootstrap_certificate', binary, (c) => c.notNull())
      .addColumn('bootstrap_fingerprint', 'text', (c) => c.notNull())
      .addColumn('request_lifetime_seconds', 'integer', (c) => c.notNull())
      .addColumn('expires_at', int64, (c) => c.notNull())
      .addColumn('created_at', int64, (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('revoked_at', int64)
      .addPrimaryKeyConstraint('packages_pkey', ['id'])
      .addCheckConstraint('packages_status_check', sql`status in ('active', 'revoked')`)
      .addForeignKeyConstraint('packages_system_id_fkey', ['system_id'], 'systems', ['id'], deferred)
      .addForeignKeyConstraint('packages_created_by_fkey', ['created_by'], 'users', ['id'], deferred)
      .execute();
    await s.createIndex('packages_system_id_created_at_idx').on('packages').columns(['system_id', 'created_at']).execute();

    await s.createTable('requests')
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('package_id', 'text', (c) => c.notNull())
      .addColumn('system_id', 'text', (c) => c.notNull())
      .addColumn('component_id', 'text', (c) => c.notNull())
      .addColumn('device_id', 'text', (c) => c.notNull())
      .addColumn('device_label', 'text', (c) => c.notNull())
      .addColumn('hardware_serial', 'text')
      .addColumn('firmware_version', 'text')
      .addColumn('nonce', 'text', (c) => c.notNull())
      .addColumn('content_hash', 'text', (c) => c.notNull())
      .addColumn('raw', binary, (c) => c.notNull())
      .addColumn('public_key_fingerprint', 'text', (c) => c.notNull())
      .addColumn('key_algorithm', 'text', (c) => c.notNull())
      .addColumn('mock', 'integer', (c) => c.notNull())
      .addColumn('transport', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('created_at', int64, (c) => c.notNull())
      .addColumn('expires_at', int64, (c) => c.notNull())
      .addColumn('submitted_by', 'text')
      .addColumn('decided_at', int64)
      .addColumn('decided_by', 'text')
      .addColumn('decision_reason', 'text')
      .addPrimaryKeyConstraint('requests_pkey', ['id'])
      .addUniqueConstraint('requests_package_id_nonce_key', ['package_id', 'nonce'])
      .addUniqueConstraint('requests_content_hash_key', ['content_hash'])
      .addCheckConstraint('requests_state_check', sql`state in ('pending', 'approved', 'rejected')`)
      .addCheckConstraint('requests_transport_check', sql`transport in ('upload', 'connected', 'proxy')`)
      .addCheckConstraint('requests_mock_check', flag('mock'))
      .addForeignKeyConstraint('requests_package_id_fkey', ['package_id'], 'packages', ['id'], deferred)
      .addForeignKeyConstraint('requests_system_id_fkey', ['system_id'], 'systems', ['id'], deferred)
      .addForeignKeyConstraint('requests_component_id_fkey', ['component_id'], 'components', ['id'], deferred)
      .addForeignKeyConstraint('requests_submitted_by_fkey', ['submitted_by'], 'users', ['id'], deferred)
      .addForeignKeyConstraint('requests_decided_by_fkey', ['decided_by'], 'users', ['id'], deferred)
      .execute();
    // listRequests: newest first, optionally by state.
    await s.createIndex('requests_state_created_at_idx').on('requests').columns(['state', 'created_at', 'id']).execute();
    await s.createIndex('requests_created_at_idx').on('requests').columns(['created_at', 'id']).execute();
    await s.createIndex('requests_device_id_idx').on('requests').column('device_id').execute();

    await s.createTable('devices')
      .addColumn('device_id', 'text', (c) => c.notNull())
      .addColumn('system_id', 'text', (c) => c.notNull())
      .addColumn('component_id', 'text', (c) => c.notNull())
      .addColumn('label', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('mock', 'integer', (c) => c.notNull())
      .addColumn('current_request_id', 'text', (c) => c.notNull())
      .addColumn('created_at', int64, (c) => c.notNull())
      .addColumn('updated_at', int64, (c) => c.notNull())
      .addColumn('provisioned_at', int64)
      .addPrimaryKeyConstraint('devices_pkey', ['device_id'])
      .addCheckConstraint('devices_state_check', sql`state in ('pending', 'approved', 'provisioned', 'rejected', 'revoked')`)
      .addCheckConstraint('devices_mock_check', flag('mock'))
      .addForeignKeyConstraint('devices_system_id_fkey', ['system_id'], 'systems', ['id'], deferred)
      .addForeignKeyConstraint('devices_component_id_fkey', ['component_id'], 'components', ['id'], deferred)
      .addForeignKeyConstraint('devices_current_request_id_fkey', ['current_request_id'], 'requests', ['id'], deferred)
      .execute();
    // listDevices: most recently updated first, optionally by state.
    await s.createIndex('devices_state_updated_at_idx').on('devices').columns(['state', 'updated_at']).execute();
    await s.createIndex('devices_updated_at_idx').on('devices').column('updated_at').execute();

    await s.createTable('certificates')
      .addColumn('issuer_fingerprint', 'text', (c) => c.notNull())
      .addColumn('serial', 'text', (c) => c.notNull())
      .addColumn('device_id', 'text')
      .addColumn('request_id', 'text')
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('der', binary, (c) => c.notNull())
      .addColumn('fingerprint', 'text', (c) => c.notNull())
      .addColumn('not_before', int64, (c) => c.notNull())
      .addColumn('not_after', int64, (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('revoked_at', int64)
      .addColumn('revocation_reason', 'text')
      .addColumn('created_at', int64, (c) => c.notNull())
      // security.md I4: (issuer, serial) unique, never reused.
      .addPrimaryKeyConstraint('certificates_pkey', ['issuer_fingerprint', 'serial'])
      .addCheckConstraint('certificates_status_check', sql`status in ('active', 'revoked')`)
      .addForeignKeyConstraint('certificates_device_id_fkey', ['device_id'], 'devices', ['device_id'], deferred)
      .addForeignKeyConstraint('certificates_request_id_fkey', ['request_id'], 'requests', ['id'], deferred)
      .execute();
    // security.md I3: at most one certificate per request.
    await s.createIndex('certificates_request_id_key').on('certificates').column('request_id').unique()
      .where('request_id', 'is not', null).execute();
    await s.createIndex('certificates_device_id_created_at_idx').on('certificates').columns(['device_id', 'created_at']).execute();

    await s.createTable('profiles')
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('device_id', 'text', (c) => c.notNull())
      .addColumn('content', binary, (c) => c.notNull())
      .addColumn('created_at', int64, (c) => c.notNull())
      .addPrimaryKeyConstraint('profiles_pkey', ['request_id'])
      .addForeignKeyConstraint('profiles_request_id_fkey', ['request_id'], 'requests', ['id'], deferred)
      .addForeignKeyConstraint('profiles_device_id_fkey', ['device_id'], 'devices', ['device_id'], deferred)
      .execute();

    await s.createTable('audit_log')
      .addColumn('seq', int64, (c) => c.notNull())
      .addColumn('at', int64, (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target_type', 'text', (c) => c.notNull())
      .addColumn('target_id', 'text', (c) => c.notNull())
      .addColumn('details', 'text', (c) => c.notNull())
      .addColumn('prev_hash', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('audit_log_pkey', ['seq'])
      .execute();
    await s.createIndex('audit_log_actor_idx').on('audit_log').columns(['actor', 'seq']).execute();
    await s.createIndex('audit_log_action_idx').on('audit_log').columns(['action', 'seq']).execute();
    await s.createIndex('audit_log_target_idx').on('audit_log').columns(['target_id', 'seq']).execute();

    await s.createTable('audit_checkpoints')
      .addColumn('seq', int64, (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('at', int64, (c) => c.notNull())
      .addColumn('signature', binary, (c) => c.notNull())
      .addColumn('signer_certificate', binary, (c) => c.notNull())
      .addPrimaryKeyConstraint('audit_checkpoints_pkey', ['seq'])
      .execute();

    await s.createTable('audit_head')
      .addColumn('id', 'integer', (c) => c.notNull())
      .addColumn('last_seq', int64, (c) => c.notNull())
      .addColumn('last_hash', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('audit_head_pkey', ['id'])
      .addCheckConstraint('audit_head_single_row', sql`id = 1`)
      .execute();
    await db.insertInto('audit_head').values({ id: 1, last_seq: 0, last_hash: GENESIS_HASH }).execute();
  },
};

/**
 * Approval policies (docs/service.md "Approval policies") and the policy verdict on each request.
 * A policy's automatic approvals have no deciding user: requests.decided_by stays null for them.
 */
const approvalPolicies: Migration = {
  version: 2,
  name: 'approval policies',
  async up(db, dialect) {
    const { int64 } = columnTypes(dialect);
    const s = db.schema;
    const deferred = <T extends { deferrable(): T; initiallyDeferred(): T }>(fk: T): T => fk.deferrable().initiallyDeferred();
    await s.createTable('approval_policies')
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('system_id', 'text', (c) => c.notNull())
      .addColumn('component_id', 'text')
      .addColumn('scope_key', 'text', (c) => c.notNull())
      .addColumn('mode', 'text', (c) => c.notNull())
      .addColumn('rules', 'text', (c) => c.notNull())
      .addColumn('created_at', int64, (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('updated_at', int64, (c) => c.notNull())
      .addColumn('updated_by', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('approval_policies_pkey', ['id'])
      .addUniqueConstraint('approval_policies_scope_key', ['scope_key'])
      .addCheckConstraint('approval_policies_mode_check', sql`mode in ('manual', 'automatic')`)
      .addForeignKeyConstraint('approval_policies_system_id_fkey', ['system_id'], 'systems', ['id'], deferred)
      .addForeignKeyConstraint('approval_policies_component_id_fkey', ['component_id'], 'components', ['id'], deferred)
      .addForeignKeyConstraint('approval_policies_created_by_fkey', ['created_by'], 'users', ['id'], deferred)
      .addForeignKeyConstraint('approval_policies_updated_by_fkey', ['updated_by'], 'users', ['id'], deferred)
      .execute();
    await s.alterTable('requests').addColumn('policy_decision', 'text').execute();
    await s.alterTable('requests').addColumn('policy_rule', 'text').execute();
    await s.alterTable('requests').addColumn('policy_reason', 'text').execute();
    // countAutoApprovals: automatic approvals of a system in the last hour.
    await s.createIndex('requests_system_policy_decided_idx').on('requests').columns(['system_id', 'policy_decision', 'decided_at']).execute();
  },
};

/**
 * Proxy gateways (docs/proxy.md) and, on each request, the gateway that carried it. A gateway's
 * certificate is also in `certificates` (kind 'gateway'), like everything the CA issues.
 */
const gateways: Migration = {
  version: 3,
  name: 'proxy gateways',
  async up(db, dialect) {
    const { int64 } = columnTypes(dialect);
    const s = db.schema;
    const deferred = <T extends { deferrable(): T; initiallyDeferred(): T }>(fk: T): T => fk.deferrable().initiallyDeferred();
    await s.createTable('gateways')
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('hosts', 'text', (c) => c.notNull())
      .addColumn('certificate_serial', 'text', (c) => c.notNull())
      .addColumn('certificate_fingerprint', 'text', (c) => c.notNull())
      .addColumn('created_at', int64, (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('revoked_at', int64)
      .addPrimaryKeyConstraint('gateways_pkey', ['id'])
      .addUniqueConstraint('gateways_name_key', ['name'])
      .addUniqueConstraint('gateways_certificate_fingerprint_key', ['certificate_fingerprint'])
      .addForeignKeyConstraint('gateways_created_by_fkey', ['created_by'], 'users', ['id'], deferred)
      .execute();
    // A nullable column with no default: existing rows read null, and SQLite can add it in place.
    await s.alterTable('requests').addColumn('gateway_id', 'text').execute();
  },
};

/**
 * Revocation (docs/service.md "Revocation", "CRL"): the CRL state of each issuing CA, and an
 * index for the CRL's list of revoked certificates. Certificates already carry status,
 * revoked_at and revocation_reason (migration 1).
 */
const revocation: Migration = {
  version: 4,
  name: 'revocation',
  async up(db, dialect) {
    const { int64, binary } = columnTypes(dialect);
    const s = db.schema;
    await s.createTable('crl_state')
      .addColumn('issuer_fingerprint', 'text', (c) => c.notNull())
      .addColumn('crl_number', int64, (c) => c.notNull())
      .addColumn('this_update', int64)
      .addColumn('next_update', int64)
      .addColumn('der', binary)
      .addPrimaryKeyConstraint('crl_state_pkey', ['issuer_fingerprint'])
      .addCheckConstraint('crl_state_crl_number_check', sql`crl_number >= 0`)
      .execute();
    await s.createIndex('certificates_issuer_status_idx').on('certificates').columns(['issuer_fingerprint', 'status']).execute();
  },
};

/**
 * The central station and expiry health (docs/station.md, docs/service.md "Expiry health"): when
 * each device last checked in at the station, with which certificate and what it reported; and
 * the expiry notices already written to the audit log, one per certificate, so a restarted job
 * never writes one twice.
 */
const stationAndExpiry: Migration = {
  version: 5,
  name: 'station and expiry health',
  async up(db, dialect) {
    const { int64 } = columnTypes(dialect);
    const s = db.schema;
    // Nullable columns with no default: existing devices read "never seen".
    await s.alterTable('devices').addColumn('last_seen_at', int64).execute();
    await s.alterTable('devices').addColumn('last_seen_serial', 'text').execute();
    await s.alterTable('devices').addColumn('last_telemetry', 'text').execute();
    await s.createTable('certificate_notices')
      .addColumn('issuer_fingerprint', 'text', (c) => c.notNull())
      .addColumn('serial', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('at', int64, (c) => c.notNull())
      .addPrimaryKeyConstraint('certificate_notices_pkey', ['issuer_fingerprint', 'serial', 'kind'])
      .addForeignKeyConstraint('certificate_notices_certificate_fkey', ['issuer_fingerprint', 'serial'], 'certificates', ['issuer_fingerprint', 'serial'])
      .execute();
    await s.createIndex('certificates_status_not_after_idx').on('certificates').columns(['status', 'not_after']).execute();
  },
};

/**
 * Lifecycle (docs/lifecycle.md): a renewal is recorded as an approved request of kind 'renewal'
 * (its certificate and profile point at it like a provisioning request's do), and each component
 * says how many days after expiry its devices may still renew.
 */
const lifecycle: Migration = {
  version: 6,
  name: 'lifecycle',
  async up(db) {
    // Nullable with no default: existing requests read null (provisioning requests).
    await db.schema.alterTable('requests').addColumn('kind', 'text').execute();
    await db.schema.alterTable('components').addColumn('renewal_grace_days', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  },
};

/**
 * The device list's column sorts (docs/web.md "Devices"): each order is (column, device_id), so an
 * index on that pair reads a page without sorting the table (updated_at has its index since 1) —
 * measured with 100,000 devices in bench/devices-list.ts.
 */
const deviceSorts: Migration = {
  version: 7,
  name: 'device list sorts',
  async up(db) {
    const s = db.schema;
    await s.createIndex('devices_created_at_device_id_idx').on('devices').columns(['created_at', 'device_id']).execute();
    await s.createIndex('devices_label_device_id_idx').on('devices').columns(['label', 'device_id']).execute();
    await s.createIndex('devices_state_device_id_idx').on('devices').columns(['state', 'device_id']).execute();
  },
};

/**
 * Reprovisioning asked for by an admin (docs/lifecycle.md): who asked, when and why, on the
 * device row until the device confirms a fresh profile or the ask is cancelled. On the device
 * rather than in a table of its own: at most one ask is outstanding per device, and the station's
 * check-in reads it with the same row it updates.
 */
const reprovisionAsk: Migration = {
  version: 8,
  name: 'reprovisioning asked for by an admin',
  async up(db, dialect) {
    const { int64 } = columnTypes(dialect);
    // Nullable with no default: existing devices read "nothing asked".
    await db.schema.alterTable('devices').addColumn('reprovision_requested_at', int64).execute();
    await db.schema.alterTable('devices').addColumn('reprovision_requested_by', 'text').execute();
    await db.schema.alterTable('devices').addColumn('reprovision_reason', 'text').execute();
  },
};

/**
 * Pending requests of any kind on the Devices page (docs/web.md "Devices"): each device carries
 * its newest pending request (id, kind, expiry), kept by the store in the transactions that insert
 * or decide requests, so "needs approval" and the pending-first order read one table and an
 * index instead of a subquery per device (bench/devices-list.ts). Filled here for existing data.
 */
const pendingRequests: Migration = {
  version: 9,
  name: 'pending requests on devices',
  async up(db, dialect) {
    const { int64 } = columnTypes(dialect);
    const s = db.schema;
    await s.alterTable('devices').addColumn('pending_request_id', 'text').execute();
    await s.alterTable('devices').addColumn('pending_request_kind', 'text').execute();
    await s.alterTable('devices').addColumn('pending_request_expires_at', int64).execute();
    await refreshPendingRequests(db, null, dialect);
    // The pending-first order, (needs no approval, updated desc, device id) read straight from an
    // index; and the "needs approval" filter, which counts only the few devices that wait.
    await sql`create index devices_pending_first_idx on devices ((pending_request_id is null), updated_at desc, device_id)`.execute(db);
    await sql`create index devices_needs_approval_idx on devices (updated_at desc, device_id) where pending_request_id is not null`.execute(db);
  },
};

/**
 * Text search of the device list (docs/storage.md "Text search"): a case-insensitive substring
 * of the device id, label, hardware serial, key and certificate SHA-256 and certificate serial,
 * answered from trigram indexes instead of a scan. PostgreSQL: GIN indexes with pg_trgm's
 * operator class over the very expressions the query compares (`lower(col) LIKE …`). SQLite: FTS5
 * tables with the trigram tokenizer, one per searched table, filled by triggers on insert (the
 * store never updates these columns nor deletes these rows).
 */
const deviceSearch: Migration = {
  version: 10,
  name: 'device text search',
  async up(db, dialect) {
    if (dialect === 'postgres') {
      // An extension exists once per database: reuse it wherever it is. A new one goes to public,
      // which outlives any one schema (tests drop theirs; an extension inside would go with it).
      const found = await sql<{ schema: string }>`select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm'`.execute(db);
      let schema = found.rows[0]?.schema;
      if (schema === undefined) {
        const publicSchema = await sql<{ n: number }>`select count(*)::int as n from pg_namespace where nspname = 'public'`.execute(db);
        schema = publicSchema.rows[0]?.n === 1 ? 'public' : (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s ?? 'public';
        await sql`create extension if not exists pg_trgm schema ${sql.id(schema)}`.execute(db);
      }
      const ops = sql`${sql.id(schema)}.gin_trgm_ops`;
      const trigram = (name: string, table: string, expression: ReturnType<typeof sql>) =>
        sql`create index ${sql.id(name)} on ${sql.id(table)} using gin (${expression} ${ops})`.execute(db);
      await trigram('devices_device_id_trgm_idx', 'devices', sql`lower(device_id)`);
      await trigram('devices_label_trgm_idx', 'devices', sql`lower(label)`);
      await trigram('requests_hardware_serial_trgm_idx', 'requests', sql`lower(hardware_serial)`);
      await trigram('requests_public_key_fingerprint_trgm_idx', 'requests', sql`public_key_fingerprint`);
      await trigram('certificates_serial_trgm_idx', 'certificates', sql`lower(serial)`);
      await trigram('certificates_fingerprint_trgm_idx', 'certificates', sql`fingerprint`);
      return;
    }
    // The key columns of requests_search and certificates_search are UNINDEXED: kept to answer
    // with, never searched. rowids are not used as keys: VACUUM may renumber a table's rowids.
    const statements = [
      `create virtual table devices_search using fts5(device_id, label, tokenize = 'trigram')`,
      `insert into devices_search (device_id, label) select device_id, label from devices`,
      `create trigger devices_search_insert after insert on devices begin
         insert into devices_search (device_id, label) values (new.device_id, new.label); end`,
      `create virtual table requests_search using fts5(id unindexed, hardware_serial, public_key_fingerprint, tokenize = 'trigram')`,
      `insert into requests_search (id, hardware_serial, public_key_fingerprint) select id, hardware_serial, public_key_fingerprint from requests`,
      `create trigger requests_search_insert after insert on requests begin
         insert into requests_search (id, hardware_serial, public_key_fingerprint) values (new.id, new.hardware_serial, new.public_key_fingerprint); end`,
      `create virtual table certificates_search using fts5(device_id unindexed, serial, fingerprint, tokenize = 'trigram')`,
      `insert into certificates_search (device_id, serial, fingerprint) select device_id, serial, fingerprint from certificates where device_id is not null`,
      `create trigger certificates_search_insert after insert on certificates when new.device_id is not null begin
         insert into certificates_search (device_id, serial, fingerprint) values (new.device_id, new.serial, new.fingerprint); end`,
    ];
    for (const statement of statements) await sql.raw(statement).execute(db);
  },
};

/**
 * Key policy (docs/decisions.md D26, D27): the SHA-256 of each certified key on its certificate
 * row, indexed, so "is this key anyone's?" is one lookup; and the keys revoked for keyCompromise,
 * never certified again. Both filled here from the certificates already issued.
 */
const keyPolicy: Migration = {
  version: 11,
  name: 'certified key fingerprints and blocked keys',
  async up(db, dialect) {
    const { int64 } = columnTypes(dialect);
    const s = db.schema;
    await s.alterTable('certificates').addColumn('public_key_sha256', 'text').execute();
    await s.createTable('blocked_keys')
      .addColumn('public_key_sha256', 'text', (c) => c.notNull())
      .addColumn('blocked_at', int64, (c) => c.notNull())
      .addColumn('issuer_fingerprint', 'text', (c) => c.notNull())
      .addColumn('serial', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('blocked_keys_pkey', ['public_key_sha256'])
      .execute();
    // In pages by primary key: a large table is never read whole into memory.
    let last: { issuer: string; serial: string } | null = null;
    for (;;) {
      let page = db.selectFrom('certificates').select(['issuer_fingerprint', 'serial', 'der', 'status', 'revocation_reason', 'revoked_at']);
      if (last) {
        const { issuer, serial } = last;
        page = page.where((eb) => eb.or([eb('issuer_fingerprint', '>', issuer), eb.and([eb('issuer_fingerprint', '=', issuer), eb('serial', '>', serial)])]));
      }
      const found = await page.orderBy('issuer_fingerprint').orderBy('serial').limit(500).execute();
      for (const row of found) {
        let key: string;
        try {
          key = publicKeyFingerprint(parseCertificate(row.der).publicKey);
        } catch {
          continue; // Not a certificate this build reads: left without a key (nothing issued here is).
        }
        await db.updateTable('certificates').set({ public_key_sha256: key })
          .where('issuer_fingerprint', '=', row.issuer_fingerprint).where('serial', '=', row.serial).execute();
        if (row.status === 'revoked' && row.revocation_reason === 'keyCompromise') {
          await db.insertInto('blocked_keys')
            .values({ public_key_sha256: key, blocked_at: row.revoked_at ?? 0, issuer_fingerprint: row.issuer_fingerprint, serial: row.serial })
            .onConflict((oc) => oc.column('public_key_sha256').doNothing())
            .execute();
        }
      }
      const end = found.at(-1);
      if (!end || found.length < 500) break;
      last = { issuer: end.issuer_fingerprint, serial: end.serial };
    }
    await s.createIndex('certificates_public_key_sha256_idx').on('certificates').column('public_key_sha256').execute();
  },
};

/**
 * Separation of duties (docs/decisions.md D28): per system, whether the person who submitted a
 * request may approve it. On (1) by default, for the systems that exist already too: a system
 * that wants one person to upload and approve says so.
 */
const separationOfDuties: Migration = {
  version: 12,
  name: 'separation of duties',
  async up(db) {
    await db.schema.alterTable('systems')
      .addColumn('separation_of_duties', 'integer', (c) => c.notNull().defaultTo(1).check(sql`separation_of_duties in (0, 1)`))
      .execute();
  },
};

/**
 * One-time enrollment tokens (docs/decisions.md D38): the tokens, kept as the SHA-256 of their
 * secret; requests made with one (or, from migration 14, with a pairing code) have no package,
 * so requests.package_id becomes nullable and requests say how they authenticated; and the
 * per-system switch that lets such a secret count as the approval (off by default).
 */
const enrollmentTokens: Migration = {
  version: 13,
  name: 'enrollment tokens',
  async up(db, dialect) {
    const { int64, binary } = columnTypes(dialect);
    const s = db.schema;
    const deferred = <T extends { deferrable(): T; initiallyDeferred(): T }>(fk: T): T => fk.deferrable().initiallyDeferred();
    await s.createTable('enrollment_tokens')
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('system_id', 'text', (c) => c.notNull())
      .addColumn('component_id', 'text', (c) => c.notNull())
      .addColumn('device_id', 'text')
      .addColumn('device_pattern', 'text')
      .addColumn('secret_sha256', binary, (c) => c.notNull())
      .addColumn('max_uses', 'integer', (c) => c.notNull())
      .addColumn('uses', 'integer', (c) => c.notNull())
      .addColumn('expires_at', int64, (c) => c.notNull())
      .addColumn('created_at', int64, (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('revoked_at', int64)
      .addColumn('last_used_at', int64)
      .addPrimaryKeyConstraint('enrollment_tokens_pkey', ['id'])
      // Bound to exactly one of the two.
      .addCheckConstraint('enrollment_tokens_binding_check', sql`(device_id is null) <> (device_pattern is null)`)
      .addCheckConstraint('enrollment_tokens_uses_check', sql`uses >= 0 and uses <= max_uses and max_uses >= 1`)
      .addForeignKeyConstraint('enrollment_tokens_system_id_fkey', ['system_id'], 'systems', ['id'], deferred)
      .addForeignKeyConstraint('enrollment_tokens_component_id_fkey', ['component_id'], 'components', ['id'], deferred)
      .addForeignKeyConstraint('enrollment_tokens_created_by_fkey', ['created_by'], 'users', ['id'], deferred)
      .execute();
    await s.createIndex('enrollment_tokens_system_id_created_at_idx').on('enrollment_tokens').columns(['system_id', 'created_at']).execute();
    await s.alterTable('systems')
      .addColumn('enrollment_secret_approves', 'integer', (c) => c.notNull().defaultTo(0).check(sql`enrollment_secret_approves in (0, 1)`))
      .execute();
    await s.alterTable('requests').addColumn('enrollment_kind', 'text').execute();
    await s.alterTable('requests').addColumn('enrollment_id', 'text').execute();
    if (dialect === 'postgres') {
      await sql`alter table requests alter column package_id drop not null`.execute(db);
      return;
    }
    await dropRequestsPackageNotNullOnSqlite(db);
  },
};

/**
 * SQLite cannot drop a NOT NULL: the table is made again from its own definition without it.
 * Inside the migration's transaction, with foreign keys on: the rows are kept aside, the table
 * dropped (its children's deferred references count as violations) and created again, and the
 * rows put back (each one settles the references to it), so the commit finds every reference
 * whole. Its indexes and trigger are created again from their own definitions, the trigger last
 * so the rows put back are not indexed twice.
 */
async function dropRequestsPackageNotNullOnSqlite(db: Transaction<Database>): Promise<void> {
  const column = await sql<{ notnull: number }>`select "notnull" from pragma_table_info('requests') where name = 'package_id'`.execute(db);
  if (column.rows[0]?.notnull === 0) return; // already nullable (a database taken back for a test)
  const found = await sql<{ type: string; name: string; sql: string | null }>`select type, name, sql from sqlite_master where tbl_name = 'requests' and sql is not null`.execute(db);
  const table = found.rows.find((r) => r.type === 'table')?.sql;
  const withoutNotNull = table?.replace(/"package_id" text not null/i, '"package_id" text');
  if (!table || withoutNotNull === table) throw new Error('migration 13: the requests table definition is not the expected one');
  const indexes = found.rows.filter((r) => r.type === 'index').map((r) => r.sql as string);
  const triggers = found.rows.filter((r) => r.type === 'trigger').map((r) => r.sql as string);
  await sql`create table requests_migration_13 as select * from requests`.execute(db);
  await sql`drop table requests`.execute(db);
  await sql.raw(withoutNotNull as string).execute(db);
  await sql`insert into requests select * from requests_migration_13`.execute(db);
  await sql`drop table requests_migration_13`.execute(db);
  for (const statement of [...indexes, ...triggers]) await sql.raw(statement).execute(db);
}

/**
 * Pairing codes (docs/decisions.md D39): devices pre-registered with a code kept as a scrypt
 * hash, the wrong attempts counted per device (a lock survives a restart), and the per-system
 * switch for central key generation (off by default).
 */
const pairingCodes: Migration = {
  version: 14,
  name: 'pairing codes',
  async up(db, dialect) {
    const { int64 } = columnTypes(dialect);
    const s = db.schema;
    const deferred = <T extends { deferrable(): T; initiallyDeferred(): T }>(fk: T): T => fk.deferrable().initiallyDeferred();
    await s.createTable('pairing_codes')
      .addColumn('device_id', 'text', (c) => c.notNull())
      .addColumn('system_id', 'text', (c) => c.notNull())
      .addColumn('component_id', 'text', (c) => c.notNull())
      .addColumn('device_label', 'text', (c) => c.notNull())
      .addColumn('code_hash', 'text', (c) => c.notNull())
      .addColumn('failed_attempts', 'integer', (c) => c.notNull())
      .addColumn('locked_at', int64)
      .addColumn('expires_at', int64, (c) => c.notNull())
      .addColumn('created_at', int64, (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('revoked_at', int64)
      .addColumn('used_at', int64)
      .addColumn('used_request_id', 'text')
      .addColumn('used_csr_sha256', 'text')
      .addPrimaryKeyConstraint('pairing_codes_pkey', ['device_id'])
      .addCheckConstraint('pairing_codes_failed_attempts_check', sql`failed_attempts >= 0`)
      .addForeignKeyConstraint('pairing_codes_system_id_fkey', ['system_id'], 'systems', ['id'], deferred)
      .addForeignKeyConstraint('pairing_codes_component_id_fkey', ['component_id'], 'components', ['id'], deferred)
      .addForeignKeyConstraint('pairing_codes_created_by_fkey', ['created_by'], 'users', ['id'], deferred)
      .execute();
    await s.createIndex('pairing_codes_system_id_created_at_idx').on('pairing_codes').columns(['system_id', 'created_at']).execute();
    await s.alterTable('systems')
      .addColumn('central_key_generation', 'integer', (c) => c.notNull().defaultTo(0).check(sql`central_key_generation in (0, 1)`))
      .execute();
  },
};

/**
 * Standard enrollment protocols (docs/protocols.md, D41-D43). `enrollment_protocols`: which of
 * EST, CMP and SCEP a system or one of its components accepts (a row per scope and protocol;
 * none: off, the default). `requests.protocol`: the protocol a request came by (its raw bytes are
 * then the PKCS#10 CSR as received). `cmp_transactions`: every CMP transaction that changed or
 * may change state, by transactionID, with the sender's first nonce (both unique: a replayed
 * message is refused) and the nonce the service answered with, which certConf must echo.
 */
const enrollmentProtocols: Migration = {
  version: 15,
  name: 'enrollment protocols',
  async up(db, dialect) {
    const { int64 } = columnTypes(dialect);
    const s = db.schema;
    const deferred = <T extends { deferrable(): T; initiallyDeferred(): T }>(fk: T): T => fk.deferrable().initiallyDeferred();
    await s.createTable('enrollment_protocols')
      .addColumn('system_id', 'text', (c) => c.notNull())
      .addColumn('component_id', 'text')
      .addColumn('scope_key', 'text', (c) => c.notNull())
      .addColumn('protocol', 'text', (c) => c.notNull())
      .addColumn('enabled_at', int64, (c) => c.notNull())
      .addColumn('enabled_by', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('enrollment_protocols_pkey', ['scope_key', 'protocol'])
      .addCheckConstraint('enrollment_protocols_protocol_check', sql`protocol in ('est', 'cmp', 'scep')`)
      .addForeignKeyConstraint('enrollment_protocols_system_id_fkey', ['system_id'], 'systems', ['id'], deferred)
      .addForeignKeyConstraint('enrollment_protocols_component_id_fkey', ['component_id'], 'components', ['id'], deferred)
      .addForeignKeyConstraint('enrollment_protocols_enabled_by_fkey', ['enabled_by'], 'users', ['id'], deferred)
      .execute();
    await s.alterTable('requests').addColumn('protocol', 'text').execute();
    await s.createTable('cmp_transactions')
      .addColumn('transaction_id', 'text', (c) => c.notNull())
      .addColumn('sender_nonce', 'text', (c) => c.notNull())
      .addColumn('server_nonce', 'text', (c) => c.notNull())
      .addColumn('body_type', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('device_id', 'text')
      .addColumn('request_id', 'text')
      .addColumn('serial', 'text')
      .addColumn('created_at', int64, (c) => c.notNull())
      .addColumn('updated_at', int64, (c) => c.notNull())
      .addPrimaryKeyConstraint('cmp_transactions_pkey', ['transaction_id'])
      .addUniqueConstraint('cmp_transactions_sender_nonce_key', ['sender_nonce'])
      .addCheckConstraint('cmp_transactions_state_check', sql`state in ('waiting', 'issued', 'confirmed', 'rejected', 'done')`)
      .addForeignKeyConstraint('cmp_transactions_request_id_fkey', ['request_id'], 'requests', ['id'], deferred)
      .execute();
  },
};

/** In order; versions strictly increasing. */
export const MIGRATIONS: readonly Migration[] = [
  initial, approvalPolicies, gateways, revocation, stationAndExpiry, lifecycle, deviceSorts, reprovisionAsk, pendingRequests, deviceSearch, keyPolicy,
  separationOfDuties, enrollmentTokens, pairingCodes, enrollmentProtocols,
];

/**
 * Brings the schema up to date in one transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: under an
 * advisory lock, so concurrent starts wait for each other). Refuses a database that has
 * migrations this build does not know (a downgrade).
 */
export async function migrate(db: Kysely<Database>, dialect: DialectName, now: () => Date = () => new Date()): Promise<number[]> {
  return db.transaction().execute(async (trx) => {
    if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`.execute(trx);
    await trx.schema.createTable('schema_migrations').ifNotExists()
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('applied_at', columnTypes(dialect).int64, (c) => c.notNull())
      .addPrimaryKeyConstraint('schema_migrations_pkey', ['version'])
      .execute();
    const applied = new Set((await trx.selectFrom('schema_migrations').select('version').execute()).map((r) => Number(r.version)));
    const known = new Set(MIGRATIONS.map((m) => m.version));
    const unknown = [...applied].filter((v) => !known.has(v));
    if (unknown.length > 0) {
      throw new Error(
        `database has schema migration(s) ${unknown.join(', ')} that this build does not know (newest known: ${Math.max(...known)}); run a newer provisio server`,
      );
    }
    const ran: number[] = [];
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      await migration.up(trx, dialect);
      await trx.insertInto('schema_migrations')
        .values({ version: migration.version, name: migration.name, applied_at: now().getTime() })
        .execute();
      ran.push(migration.version);
    }
    return ran;
  });
}
