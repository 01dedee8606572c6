/**
 * The `Store` port over Kysely: one implementation of every query for SQLite and PostgreSQL.
 * Where the databases differ (row locks, the integrity check) the dialect is asked explicitly.
 */
import type { RevocationReason, SerialNumber } from '@provisio/pki';
import { type Expression, type Kysely, type RawBuilder, type SqlBool, sql, type Transaction, type Updateable } from 'kysely';
import { canonicalJson, hashAuditEntry } from '../audit/audit-chain.js';
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
  ComponentRecord,
  CrlRecord,
  DeviceCheckIn,
  ReprovisionAsk,
  DeviceIdText,
  DeviceRecord,
  DeviceState,
  EnrollmentProtocol,
  EnrollmentTokenId,
  EnrollmentTokenRecord,
  PairingCodeRecord,
  GatewayId,
  GatewayRecord,
  PackageId,
  PackageRecord,
  Page,
  PolicyVerdict,
  ProfileRecord,
  ProtocolSwitch,
  RequestId,
  RequestRecord,
  RevokedCertificate,
  SystemId,
  SystemRecord,
  User,
  UserId,
} from '../domain/model.js';
import { type ApprovalRows, type AuditFilter, type AuditHead, type DeviceFilter, type DeviceSort, defaultDirection, type RequestFilter, type Store, StoreConflict, type StoreTx } from '../domain/store.js';
import type { DialectName } from './migrations.js';
import * as rows from './rows.js';
import type { Database, DevicesTable } from './schema.js';
import { refreshPendingRequests } from './pending-requests.js';
import { toStoreConflict } from './unique-violation.js';

type Executor = Kysely<Database> | Transaction<Database>;

class KyselyStoreTx implements StoreTx {
  constructor(
    protected readonly db: Executor,
    protected readonly dialect: DialectName,
    private readonly inTransaction: boolean,
  ) {}

  /**
   * Runs one insert; a unique violation becomes StoreConflict. Inside a transaction the insert is
   * wrapped in a savepoint: PostgreSQL aborts the whole transaction on any error otherwise, and
   * the caller must be able to catch the conflict and go on (e.g. look up the existing row).
   */
  private async insert(run: (db: Executor) => Promise<unknown>): Promise<void> {
    if (!this.inTransaction) {
      try {
        await run(this.db);
      } catch (error) {
        throw toStoreConflict(error) ?? error;
      }
      return;
    }
    await sql`savepoint provisio_insert`.execute(this.db);
    try {
      await run(this.db);
    } catch (error) {
      await sql`rollback to savepoint provisio_insert`.execute(this.db);
      await sql`release savepoint provisio_insert`.execute(this.db);
      throw toStoreConflict(error) ?? error;
    }
    await sql`release savepoint provisio_insert`.execute(this.db);
  }

  // -- users and tokens ------------------------------------------------------------------------

  async insertUser(user: User): Promise<void> {
    const row = rows.userToRow(user);
    await this.insert((db) => db.insertInto('users').values(row).execute());
  }

  async findUserByName(username: string): Promise<User | null> {
    const row = await this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    return row ? rows.userFromRow(row) : null;
  }

  async findUserById(id: UserId): Promise<User | null> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rows.userFromRow(row) : null;
  }

  async listUsers(): Promise<User[]> {
    const found = await this.db.selectFrom('users').selectAll().orderBy('username').execute();
    return found.map(rows.userFromRow);
  }

  async insertToken(token: ApiToken): Promise<void> {
    const row = rows.tokenToRow(token);
    await this.insert((db) => db.insertInto('api_tokens').values(row).execute());
  }

  async findActiveToken(tokenHash: Buffer): Promise<{ token: ApiToken; user: User } | null> {
    const row = await this.db
      .selectFrom('api_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select([
        't.id', 't.user_id', 't.token_hash', 't.name', 't.created_at', 't.revoked_at',
        'u.username', 'u.role', 'u.password_hash', 'u.created_at as user_created_at', 'u.disabled_at',
      ])
      .where('t.token_hash', '=', Buffer.from(tokenHash))
      .where('t.revoked_at', 'is', null)
      .where('u.disabled_at', 'is', null)
      .executeTakeFirst();
    if (!row) return null;
    return {
      token: rows.tokenFromRow(row),
      user: rows.userFromRow({
        id: row.user_id,
        username: row.username,
        role: row.role,
        password_hash: row.password_hash,
        created_at: row.user_created_at,
        disabled_at: row.disabled_at,
      }),
    };
  }

  // -- systems and components ------------------------------------------------------------------

  async insertSystem(system: SystemRecord): Promise<void> {
    const row = rows.systemToRow(system);
    await this.insert((db) => db.insertInto('systems').values(row).execute());
  }

  async findSystemByName(name: string): Promise<SystemRecord | null> {
    const row = await this.db.selectFrom('systems').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? rows.systemFromRow(row) : null;
  }

  async findSystemById(id: SystemId): Promise<SystemRecord | null> {
    const row = await this.db.selectFrom('systems').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rows.systemFromRow(row) : null;
  }

  async setSystemAllowMock(id: SystemId, allowMock: boolean): Promise<boolean> {
    const result = await this.db.updateTable('systems').set({ allow_mock: allowMock ? 1 : 0 }).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async setSystemSeparationOfDuties(id: SystemId, on: boolean): Promise<boolean> {
    const result = await this.db.updateTable('systems').set({ separation_of_duties: on ? 1 : 0 }).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async setSystemEnrollmentSecretApproves(id: SystemId, on: boolean): Promise<boolean> {
    const result = await this.db.updateTable('systems').set({ enrollment_secret_approves: on ? 1 : 0 }).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async setSystemCentralKeyGeneration(id: SystemId, on: boolean): Promise<boolean> {
    const result = await this.db.updateTable('systems').set({ central_key_generation: on ? 1 : 0 }).where('id', '=', id).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async listSystems(): Promise<SystemRecord[]> {
    const found = await this.db.selectFrom('systems').selectAll().orderBy('name').execute();
    return found.map(rows.systemFromRow);
  }

  async insertComponent(component: ComponentRecord): Promise<void> {
    const row = rows.componentToRow(component);
    await this.insert((db) => db.insertInto('components').values(row).execute());
  }

  async findComponent(systemId: SystemId, name: string): Promise<ComponentRecord | null> {
    const row = await this.db.selectFrom('components').selectAll()
      .where('system_id', '=', systemId).where('name', '=', name).executeTakeFirst();
    return row ? rows.componentFromRow(row) : null;
  }

  async findComponentById(id: ComponentId): Promise<ComponentRecord | null> {
    const row = await this.db.selectFrom('components').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rows.componentFromRow(row) : null;
  }

  async listComponents(systemId: SystemId): Promise<ComponentRecord[]> {
    const found = await this.db.selectFrom('components').selectAll().where('system_id', '=', systemId).orderBy('name').execute();
    return found.map(rows.componentFromRow);
  }

  async setComponentRenewalGrace(id: ComponentId, days: number): Promise<void> {
    await this.db.updateTable('components').set({ renewal_grace_days: days }).where('id', '=', id).execute();
  }

  // -- packages --------------------------------------------------------------------------------

  async insertPackage(pkg: PackageRecord): Promise<void> {
    const row = rows.packageToRow(pkg);
    await this.insert((db) => db.insertInto('packages').values(row).execute());
  }

  async readApprovalRows(ids: { userId: UserId | null; systemId: SystemId; componentId: ComponentId; packageId: PackageId | null }): Promise<ApprovalRows> {
    const pg = this.dialect === 'postgres';
    // One after the other, in a fixed order, on the transaction's one connection.
    const users = this.db.selectFrom('users').selectAll().where('id', '=', ids.userId as string);
    const user = ids.userId === null ? undefined : await (pg ? users.forShare() : users).executeTakeFirst();
    const systems = this.db.selectFrom('systems').selectAll().where('id', '=', ids.systemId);
    const system = await (pg ? systems.forShare() : systems).executeTakeFirst();
    const components = this.db.selectFrom('components').selectAll().where('id', '=', ids.componentId);
    const component = await (pg ? components.forShare() : components).executeTakeFirst();
    const packages = this.db.selectFrom('packages').selectAll().where('id', '=', ids.packageId as string);
    const pkg = ids.packageId === null ? undefined : await (pg ? packages.forShare() : packages).executeTakeFirst();
    return {
      user: user ? rows.userFromRow(user) : null,
      system: system ? rows.systemFromRow(system) : null,
      component: component ? rows.componentFromRow(component) : null,
      package: pkg ? rows.packageFromRow(pkg) : null,
    };
  }

  async findPackage(id: PackageId): Promise<PackageRecord | null> {
    const row = await this.db.selectFrom('packages').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rows.packageFromRow(row) : null;
  }

  /** Newest first (createdAt desc, id desc). */
  async listPackages(systemId?: SystemId): Promise<PackageRecord[]> {
    let query = this.db.selectFrom('packages').selectAll();
    if (systemId !== undefined) query = query.where('system_id', '=', systemId);
    const found = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
    return found.map(rows.packageFromRow);
  }

  async revokePackage(id: PackageId, at: Date): Promise<boolean> {
    const result = await this.db.updateTable('packages')
      .set({ status: 'revoked', revoked_at: rows.toMillis(at) })
      .where('id', '=', id)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  // -- requests --------------------------------------------------------------------------------

  /** A pending request becomes its device's pending request (when the device exists yet). */
  async insertRequest(request: RequestRecord): Promise<void> {
    const row = rows.requestToRow(request);
    await this.insert((db) => db.insertInto('requests').values(row).execute());
    if (request.state === 'pending') await refreshPendingRequests(this.db, request.deviceId, this.dialect);
  }

  async findRequest(id: RequestId): Promise<RequestRecord | null> {
    const row = await this.db.selectFrom('requests').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rows.requestFromRow(row) : null;
  }

  async findRequestByContentHash(contentHash: string): Promise<RequestRecord | null> {
    const row = await this.db.selectFrom('requests').selectAll().where('content_hash', '=', contentHash).executeTakeFirst();
    return row ? rows.requestFromRow(row) : null;
  }

  async findRequestByNonce(packageId: PackageId, nonce: string): Promise<RequestRecord | null> {
    const row = await this.db.selectFrom('requests').selectAll()
      .where('package_id', '=', packageId).where('nonce', '=', nonce).executeTakeFirst();
    return row ? rows.requestFromRow(row) : null;
  }

  async listRequests(filter: RequestFilter): Promise<Page<RequestRecord>> {
    const { limit, offset } = checkPaging(filter);
    let query = this.db.selectFrom('requests');
    if (filter.state !== undefined) query = query.where('state', '=', filter.state);
    if (filter.systemId !== undefined) query = query.where('system_id', '=', filter.systemId);
    if (filter.componentId !== undefined) query = query.where('component_id', '=', filter.componentId);
    if (filter.deviceId !== undefined) query = query.where('device_id', '=', filter.deviceId);
    if (filter.text) {
      const pattern = likePattern(filter.text);
      query = query.where((eb) => eb.or([
        containsLower('device_id', pattern),
        containsLower('device_label', pattern),
        containsLower('hardware_serial', pattern),
      ]));
    }
    const { n } = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const found = await query.selectAll()
      .orderBy('created_at', 'desc').orderBy('id', 'desc')
      .limit(limit).offset(offset)
      .execute();
    return { items: found.map(rows.requestFromRow), total: Number(n) };
  }

  async decideRequest(
    id: RequestId,
    decision: { state: 'approved' | 'rejected'; at: Date; by: UserId | null; reason: string | null },
  ): Promise<boolean> {
    const decided = await this.db.updateTable('requests')
      .set({
        state: decision.state,
        decided_at: rows.toMillis(decision.at),
        decided_by: decision.by,
        decision_reason: decision.reason,
      })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .returning('device_id')
      .execute();
    const [row] = decided;
    if (decided.length !== 1 || !row) return false;
    // The device's next pending request, if it has another, or none.
    await refreshPendingRequests(this.db, row.device_id, this.dialect);
    return true;
  }

  async setRequestPolicyVerdict(id: RequestId, verdict: PolicyVerdict): Promise<void> {
    await this.db.updateTable('requests')
      .set({ policy_decision: verdict.decision, policy_rule: verdict.rule, policy_reason: verdict.reason })
      .where('id', '=', id)
      .execute();
  }

  // -- enrollment protocols --------------------------------------------------------------------

  async enableProtocol(on: ProtocolSwitch): Promise<boolean> {
    const row = rows.protocolSwitchToRow(on);
    const existing = await this.db.selectFrom('enrollment_protocols').select('protocol')
      .where('scope_key', '=', row.scope_key).where('protocol', '=', row.protocol).executeTakeFirst();
    if (existing) return false;
    try {
      await this.insert((db) => db.insertInto('enrollment_protocols').values(row).execute());
    } catch (e) {
      if (e instanceof StoreConflict) return false;
      throw e;
    }
    return true;
  }

  async disableProtocol(systemId: SystemId, componentId: ComponentId | null, protocol: EnrollmentProtocol): Promise<boolean> {
    const result = await this.db.deleteFrom('enrollment_protocols')
      .where('scope_key', '=', rows.protocolScopeKey(systemId, componentId)).where('protocol', '=', protocol).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async listProtocolSwitches(systemId?: SystemId): Promise<ProtocolSwitch[]> {
    let query = this.db.selectFrom('enrollment_protocols').selectAll();
    if (systemId !== undefined) query = query.where('system_id', '=', systemId);
    // The system's own row ('<id>/*') sorts after a component's in ASCII; order explicitly instead.
    const found = await query.orderBy('system_id').orderBy(sql`case when component_id is null then 0 else 1 end`).orderBy('component_id').orderBy('protocol').execute();
    return found.map(rows.protocolSwitchFromRow);
  }

  // -- CMP transactions ------------------------------------------------------------------------

  async insertCmpTransaction(transaction: CmpTransaction): Promise<void> {
    const row = rows.cmpTransactionToRow(transaction);
    await this.insert((db) => db.insertInto('cmp_transactions').values(row).execute());
  }

  async findCmpTransaction(transactionId: string): Promise<CmpTransaction | null> {
    const row = await this.db.selectFrom('cmp_transactions').selectAll().where('transaction_id', '=', transactionId).executeTakeFirst();
    return row ? rows.cmpTransactionFromRow(row) : null;
  }

  async findCmpTransactionByNonce(senderNonce: string): Promise<CmpTransaction | null> {
    const row = await this.db.selectFrom('cmp_transactions').selectAll().where('sender_nonce', '=', senderNonce).executeTakeFirst();
    return row ? rows.cmpTransactionFromRow(row) : null;
  }

  async updateCmpTransaction(
    transactionId: string,
    from: readonly CmpTransactionState[],
    to: CmpTransactionState,
    changes: { serverNonce: string; at: Date; serial?: string; deviceId?: string },
  ): Promise<boolean> {
    const result = await this.db.updateTable('cmp_transactions')
      .set({
        state: to,
        server_nonce: changes.serverNonce,
        updated_at: rows.toMillis(changes.at),
        ...(changes.serial !== undefined ? { serial: changes.serial } : {}),
        ...(changes.deviceId !== undefined ? { device_id: changes.deviceId } : {}),
      })
      .where('transaction_id', '=', transactionId)
      .where('state', 'in', [...from])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  // -- approval policies -----------------------------------------------------------------------

  async findApprovalPolicy(systemId: SystemId, componentId: ComponentId | null): Promise<ApprovalPolicyRecord | null> {
    const row = await this.db.selectFrom('approval_policies').selectAll()
      .where('scope_key', '=', `${systemId}/${componentId ?? '*'}`).executeTakeFirst();
    return row ? rows.approvalPolicyFromRow(row) : null;
  }

  async saveApprovalPolicy(policy: ApprovalPolicyRecord): Promise<ApprovalPolicyRecord> {
    const row = rows.approvalPolicyToRow(policy);
    const updated = await this.db.updateTable('approval_policies')
      .set({ mode: row.mode, rules: row.rules, updated_at: row.updated_at, updated_by: row.updated_by })
      .where('scope_key', '=', row.scope_key)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) await this.insert((db) => db.insertInto('approval_policies').values(row).execute());
    const saved = await this.findApprovalPolicy(policy.systemId, policy.componentId);
    if (!saved) throw new Error(`approval policy ${row.scope_key} vanished while saving`);
    return saved;
  }

  async countAutoApprovals(scope: { systemId: SystemId; componentId: ComponentId | null; since: Date; lockPolicyId?: string }): Promise<number> {
    if (scope.lockPolicyId !== undefined && this.dialect === 'postgres') {
      await sql`select id from approval_policies where id = ${scope.lockPolicyId} for update`.execute(this.db);
    }
    let query = this.db.selectFrom('requests')
      .where('system_id', '=', scope.systemId)
      .where('policy_decision', '=', 'approve')
      .where('decided_at', '>=', rows.toMillis(scope.since));
    if (scope.componentId !== null) query = query.where('component_id', '=', scope.componentId);
    const { n } = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(n);
  }

  // -- one-time enrollment tokens -------------------------------------------------------------

  async insertEnrollmentToken(token: EnrollmentTokenRecord): Promise<void> {
    const row = rows.enrollmentTokenToRow(token);
    await this.insert((db) => db.insertInto('enrollment_tokens').values(row).execute());
  }

  async findEnrollmentToken(id: EnrollmentTokenId): Promise<EnrollmentTokenRecord | null> {
    const row = await this.db.selectFrom('enrollment_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rows.enrollmentTokenFromRow(row) : null;
  }

  async listEnrollmentTokens(filter: { systemId?: SystemId }): Promise<EnrollmentTokenRecord[]> {
    let query = this.db.selectFrom('enrollment_tokens').selectAll();
    if (filter.systemId !== undefined) query = query.where('system_id', '=', filter.systemId);
    const found = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
    return found.map(rows.enrollmentTokenFromRow);
  }

  async useEnrollmentToken(id: EnrollmentTokenId, use: { expectedUses: number; at: Date }): Promise<boolean> {
    const result = await this.db.updateTable('enrollment_tokens')
      .set((eb) => ({ uses: eb('uses', '+', 1), last_used_at: rows.toMillis(use.at) }))
      .where('id', '=', id)
      .where('uses', '=', use.expectedUses)
      .where((eb) => eb('uses', '<', eb.ref('max_uses')))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async revokeEnrollmentToken(id: EnrollmentTokenId, at: Date): Promise<boolean> {
    const result = await this.db.updateTable('enrollment_tokens')
      .set({ revoked_at: rows.toMillis(at) })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  // -- pairing codes ----------------------------------------------------------------------------

  async savePairingCode(record: PairingCodeRecord, options: { replace: boolean }): Promise<void> {
    const row = rows.pairingCodeToRow(record);
    if (options.replace) await this.db.deleteFrom('pairing_codes').where('device_id', '=', record.deviceId).execute();
    await this.insert((db) => db.insertInto('pairing_codes').values(row).execute());
  }

  async findPairingCode(deviceId: DeviceIdText): Promise<PairingCodeRecord | null> {
    const row = await this.db.selectFrom('pairing_codes').selectAll().where('device_id', '=', deviceId).executeTakeFirst();
    return row ? rows.pairingCodeFromRow(row) : null;
  }

  async listPairingCodes(filter: { systemId?: SystemId }): Promise<PairingCodeRecord[]> {
    let query = this.db.selectFrom('pairing_codes').selectAll();
    if (filter.systemId !== undefined) query = query.where('system_id', '=', filter.systemId);
    const found = await query.orderBy('created_at', 'desc').orderBy('device_id').execute();
    return found.map(rows.pairingCodeFromRow);
  }

  async recordPairingFailure(deviceId: DeviceIdText, failure: { expectedFailures: number; lockAt: Date | null }): Promise<boolean> {
    const result = await this.db.updateTable('pairing_codes')
      .set((eb) => ({ failed_attempts: eb('failed_attempts', '+', 1), ...(failure.lockAt ? { locked_at: rows.toMillis(failure.lockAt) } : {}) }))
      .where('device_id', '=', deviceId)
      .where('failed_attempts', '=', failure.expectedFailures)
      .where('locked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async usePairingCode(deviceId: DeviceIdText, use: { at: Date; requestId: RequestId; csrSha256: string }): Promise<boolean> {
    const result = await this.db.updateTable('pairing_codes')
      .set({ used_at: rows.toMillis(use.at), used_request_id: use.requestId, used_csr_sha256: use.csrSha256 })
      .where('device_id', '=', deviceId)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('locked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async revokePairingCode(deviceId: DeviceIdText, at: Date): Promise<boolean> {
    const result = await this.db.updateTable('pairing_codes')
      .set({ revoked_at: rows.toMillis(at) })
      .where('device_id', '=', deviceId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async resetPairingCode(deviceId: DeviceIdText): Promise<boolean> {
    const result = await this.db.updateTable('pairing_codes')
      .set({ failed_attempts: 0, locked_at: null })
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  // -- proxy gateways --------------------------------------------------------------------------

  async insertGateway(gateway: GatewayRecord): Promise<void> {
    const row = rows.gatewayToRow(gateway);
    await this.insert((db) => db.insertInto('gateways').values(row).execute());
  }

  async findGatewayByName(name: string): Promise<GatewayRecord | null> {
    const row = await this.db.selectFrom('gateways').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? rows.gatewayFromRow(row) : null;
  }

  async findGatewayById(id: GatewayId): Promise<GatewayRecord | null> {
    const row = await this.db.selectFrom('gateways').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rows.gatewayFromRow(row) : null;
  }

  async findGatewayByFingerprint(certificateFingerprint: string): Promise<GatewayRecord | null> {
    const row = await this.db.selectFrom('gateways').selectAll().where('certificate_fingerprint', '=', certificateFingerprint).executeTakeFirst();
    return row ? rows.gatewayFromRow(row) : null;
  }

  async listGateways(): Promise<GatewayRecord[]> {
    const found = await this.db.selectFrom('gateways').selectAll().orderBy('name').execute();
    return found.map(rows.gatewayFromRow);
  }

  async revokeGateway(id: GatewayId, at: Date): Promise<boolean> {
    const result = await this.db.updateTable('gateways')
      .set({ revoked_at: rows.toMillis(at) })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  // -- devices ---------------------------------------------------------------------------------

  /** `device.pendingRequest` is recomputed from the requests already inserted, not trusted. */
  async insertDevice(device: DeviceRecord): Promise<void> {
    const row = rows.deviceToRow(device);
    await this.insert((db) => db.insertInto('devices').values(row).execute());
    await refreshPendingRequests(this.db, device.deviceId, this.dialect);
  }

  async findDevice(deviceId: DeviceIdText): Promise<DeviceRecord | null> {
    const row = await this.db.selectFrom('devices').selectAll().where('device_id', '=', deviceId).executeTakeFirst();
    return row ? rows.deviceFromRow(row) : null;
  }

  /**
   * Ordered by `filter.sort`, then deviceId. `text` is a case-insensitive substring of the device
   * id, the label, the hardware serial or key SHA-256 of the device's current request, or the
   * serial or SHA-256 of any of its certificates (`deviceTextMatch`).
   */
  async listDevices(filter: DeviceFilter): Promise<Page<DeviceRecord>> {
    const { limit, offset } = checkPaging(filter);
    let query = this.db.selectFrom('devices');
    if (filter.state !== undefined) query = query.where('state', '=', filter.state);
    if (filter.needsApproval === true) query = query.where('pending_request_id', 'is not', null);
    if (filter.systemId !== undefined) query = query.where('system_id', '=', filter.systemId);
    if (filter.componentId !== undefined) query = query.where('component_id', '=', filter.componentId);
    // Conditions on a device's request or certificates are uncorrelated `in (select …)`: the
    // subquery runs once, where a correlated `exists` ran once per device (bench/devices-list.ts:
    // with 100,000 devices the text search fell from ~540 ms to the figures in bench/RESULTS.md).
    if (filter.transport !== undefined) {
      query = query.where(sql<SqlBool>`current_request_id in (select r.id from requests r where r.transport = ${filter.transport})`);
    }
    if (filter.certificateExpiresBefore !== undefined) {
      const before = rows.toMillis(filter.certificateExpiresBefore);
      query = query.where(sql<SqlBool>`device_id in (select c.device_id from certificates c where c.status = 'active' and c.not_after < ${before})`);
    }
    if (filter.text) query = query.where(deviceTextMatch(this.dialect, filter.text));
    const { n } = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const sort = filter.sort ?? 'updated';
    const direction = filter.direction ?? defaultDirection(sort);
    let ordered = query.selectAll();
    // Devices with a pending request of any kind first (false < true on PostgreSQL, 0 < 1 on
    // SQLite), the very expression of the devices_pending_first_idx index. When only those are
    // listed the term is constant: without it the order is devices_needs_approval_idx's.
    if (sort === 'pending-first' && filter.needsApproval !== true) ordered = ordered.orderBy(sql`(pending_request_id is null)`);
    const column = DEVICE_SORT_COLUMNS[sort];
    ordered = column === 'device_id' ? ordered.orderBy('device_id', direction) : ordered.orderBy(column, direction).orderBy('device_id', 'asc');
    const found = await ordered
      .limit(limit).offset(offset)
      .execute();
    return { items: found.map(rows.deviceFromRow), total: Number(n) };
  }

  async recordCheckIn(deviceId: DeviceIdText, checkIn: DeviceCheckIn): Promise<{ readonly reprovisionRequestedAt: Date | null } | null> {
    const row = await this.db.updateTable('devices')
      .set({ last_seen_at: rows.toMillis(checkIn.at), last_seen_serial: checkIn.serial, last_telemetry: canonicalJson(checkIn.telemetry) })
      .where('device_id', '=', deviceId)
      .returning('reprovision_requested_at')
      .executeTakeFirst();
    return row ? { reprovisionRequestedAt: rows.fromMillisOrNull(row.reprovision_requested_at) } : null;
  }

  async setReprovisionAsk(deviceId: DeviceIdText, expectedAt: Date | null, to: ReprovisionAsk | null): Promise<boolean> {
    const result = await this.db.updateTable('devices')
      .set(rows.reprovisionAskToRow(to))
      .where('device_id', '=', deviceId)
      .where('reprovision_requested_at', expectedAt === null ? 'is' : '=', expectedAt === null ? null : rows.toMillis(expectedAt))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async transitionDevice(
    deviceId: DeviceIdText,
    from: readonly DeviceState[],
    to: DeviceState,
    at: Date,
    changes?: { currentRequestId?: RequestId },
  ): Promise<boolean> {
    if (from.length === 0) return false;
    const set: Updateable<DevicesTable> = { state: to, updated_at: rows.toMillis(at) };
    // provisioned → provisioned (a renewal installed) keeps the first provisioning time.
    if (to === 'provisioned' && !from.includes('provisioned')) set.provisioned_at = rows.toMillis(at);
    if (changes?.currentRequestId !== undefined) set.current_request_id = changes.currentRequestId;
    const result = await this.db.updateTable('devices')
      .set(set)
      .where('device_id', '=', deviceId)
      .where('state', 'in', [...from])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  // -- certificates and profiles ---------------------------------------------------------------

  async insertCertificate(certificate: CertificateRecord): Promise<void> {
    const row = rows.certificateToRow(certificate);
    await this.insert((db) => db.insertInto('certificates').values(row).execute());
  }

  async findCertificate(issuerFingerprint: string, serial: SerialNumber): Promise<CertificateRecord | null> {
    const row = await this.db.selectFrom('certificates').selectAll()
      .where('issuer_fingerprint', '=', issuerFingerprint).where('serial', '=', serial).executeTakeFirst();
    return row ? rows.certificateFromRow(row) : null;
  }

  async findCertificateByRequest(requestId: RequestId): Promise<CertificateRecord | null> {
    const row = await this.db.selectFrom('certificates').selectAll().where('request_id', '=', requestId).executeTakeFirst();
    return row ? rows.certificateFromRow(row) : null;
  }

  /** Newest first (createdAt desc, then notBefore desc, then serial). */
  async listCertificatesForDevice(deviceId: DeviceIdText): Promise<CertificateRecord[]> {
    const found = await this.db.selectFrom('certificates').selectAll().where('device_id', '=', deviceId)
      .orderBy('created_at', 'desc').orderBy('not_before', 'desc').orderBy('serial', 'asc')
      .execute();
    return found.map(rows.certificateFromRow);
  }

  async findCertificatesByPublicKey(publicKeySha256: string): Promise<CertificateRecord[]> {
    const found = await this.db.selectFrom('certificates').selectAll().where('public_key_sha256', '=', publicKeySha256)
      .orderBy('created_at', 'desc').orderBy('serial', 'asc')
      .execute();
    return found.map(rows.certificateFromRow);
  }

  async blockKey(key: BlockedKey): Promise<boolean> {
    const result = await this.db.insertInto('blocked_keys').values(rows.blockedKeyToRow(key))
      .onConflict((oc) => oc.column('public_key_sha256').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async findBlockedKey(publicKeySha256: string): Promise<BlockedKey | null> {
    const row = await this.db.selectFrom('blocked_keys').selectAll().where('public_key_sha256', '=', publicKeySha256).executeTakeFirst();
    return row ? rows.blockedKeyFromRow(row) : null;
  }

  async revokeCertificate(issuerFingerprint: string, serial: SerialNumber, revocation: { at: Date; reason: RevocationReason }): Promise<boolean> {
    const result = await this.db.updateTable('certificates')
      .set({ status: 'revoked', revoked_at: rows.toMillis(revocation.at), revocation_reason: revocation.reason })
      .where('issuer_fingerprint', '=', issuerFingerprint)
      .where('serial', '=', serial)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async listExpiringCertificates(filter: { now: Date; before: Date; kind?: string; withoutNotice?: string; limit: number; offset: number }): Promise<Page<CertificateRecord>> {
    const { limit, offset } = checkPaging(filter);
    let query = this.db.selectFrom('certificates')
      .where('status', '=', 'active')
      .where('not_after', '>', rows.toMillis(filter.now))
      .where('not_after', '<=', rows.toMillis(filter.before));
    if (filter.kind !== undefined) query = query.where('kind', '=', filter.kind);
    if (filter.withoutNotice !== undefined) {
      const kind = filter.withoutNotice;
      query = query.where(({ not, exists, selectFrom }) => not(exists(
        selectFrom('certificate_notices as n').select('n.serial')
          .whereRef('n.issuer_fingerprint', '=', 'certificates.issuer_fingerprint')
          .whereRef('n.serial', '=', 'certificates.serial')
          .where('n.kind', '=', kind),
      )));
    }
    const { n } = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const found = await query.selectAll('certificates').orderBy('not_after', 'asc').orderBy('serial', 'asc').limit(limit).offset(offset).execute();
    return { items: found.map(rows.certificateFromRow), total: Number(n) };
  }

  async listRenewalOverdueCertificates(filter: { now: Date; limit: number; offset: number }): Promise<Page<CertificateRecord>> {
    const { limit, offset } = checkPaging(filter);
    const now = rows.toMillis(filter.now);
    // Past two thirds of the lifetime: now - notBefore >= (notAfter - notBefore) * 2/3, in
    // integers: 3 * now >= notBefore + 2 * notAfter.
    const query = this.db.selectFrom('certificates')
      .innerJoin('devices', (join) => join.onRef('devices.current_request_id', '=', 'certificates.request_id').onRef('devices.device_id', '=', 'certificates.device_id'))
      .where('certificates.kind', '=', 'device')
      .where('certificates.status', '=', 'active')
      .where('devices.state', 'in', ['approved', 'provisioned'])
      .where('certificates.not_after', '>', now)
      .where(sql<SqlBool>`${sql.ref('certificates.not_before')} + 2 * ${sql.ref('certificates.not_after')} <= ${3 * now}`);
    const { n } = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const found = await query.selectAll('certificates').orderBy('certificates.not_after', 'asc').orderBy('certificates.serial', 'asc').limit(limit).offset(offset).execute();
    return { items: found.map(rows.certificateFromRow), total: Number(n) };
  }

  async insertCertificateNotice(issuerFingerprint: string, serial: SerialNumber, kind: string, at: Date): Promise<boolean> {
    // ON CONFLICT DO NOTHING rather than catching the violation: on PostgreSQL a failed insert
    // would abort the surrounding transaction.
    const result = await this.db.insertInto('certificate_notices')
      .values({ issuer_fingerprint: issuerFingerprint, serial, kind, at: rows.toMillis(at) })
      .onConflict((oc) => oc.columns(['issuer_fingerprint', 'serial', 'kind']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async listRevokedCertificates(issuerFingerprint: string): Promise<RevokedCertificate[]> {
    const found = await this.db.selectFrom('certificates')
      .select(['serial', 'revoked_at', 'revocation_reason'])
      .where('issuer_fingerprint', '=', issuerFingerprint)
      .where('status', '=', 'revoked')
      .orderBy('serial')
      .execute();
    return found.map((r) => {
      if (r.revoked_at === null) throw new Error(`certificate ${r.serial} is revoked without a revocation time`);
      return { serial: r.serial as SerialNumber, revokedAt: new Date(Number(r.revoked_at)), reason: (r.revocation_reason ?? 'unspecified') as RevocationReason };
    });
  }

  // -- CRLs ------------------------------------------------------------------------------------

  async reserveCrlNumber(issuerFingerprint: string): Promise<number> {
    if (!this.inTransaction) throw new Error('reserveCrlNumber must run inside a transaction');
    // The first CRL of an issuer creates its row; a concurrent first publisher on another server
    // conflicts on the primary key, which is harmless: the UPDATE below then waits for its lock.
    await this.db.insertInto('crl_state')
      .values({ issuer_fingerprint: issuerFingerprint, crl_number: 0, this_update: null, next_update: null, der: null })
      .onConflict((oc) => oc.column('issuer_fingerprint').doNothing())
      .execute();
    const row = await this.db.updateTable('crl_state')
      .set((eb) => ({ crl_number: eb('crl_number', '+', 1) }))
      .where('issuer_fingerprint', '=', issuerFingerprint)
      .returning('crl_number')
      .executeTakeFirstOrThrow();
    return Number(row.crl_number);
  }

  async saveCrl(crl: CrlRecord): Promise<void> {
    const result = await this.db.updateTable('crl_state')
      .set({ this_update: rows.toMillis(crl.thisUpdate), next_update: rows.toMillis(crl.nextUpdate), der: Buffer.from(crl.der) })
      .where('issuer_fingerprint', '=', crl.issuerFingerprint)
      .where('crl_number', '=', crl.crlNumber)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) {
      throw new Error(`CRL number ${crl.crlNumber} is not the number last reserved for this issuer; reserve it in the same transaction`);
    }
  }

  async findCrl(issuerFingerprint: string): Promise<CrlRecord | null> {
    const row = await this.db.selectFrom('crl_state').selectAll().where('issuer_fingerprint', '=', issuerFingerprint).executeTakeFirst();
    return row ? rows.crlFromRow(row) : null;
  }

  async insertProfile(profile: ProfileRecord): Promise<void> {
    const row = rows.profileToRow(profile);
    await this.insert((db) => db.insertInto('profiles').values(row).execute());
  }

  async findProfile(requestId: RequestId): Promise<ProfileRecord | null> {
    const row = await this.db.selectFrom('profiles').selectAll().where('request_id', '=', requestId).executeTakeFirst();
    return row ? rows.profileFromRow(row) : null;
  }

  // -- audit -----------------------------------------------------------------------------------

  /**
   * Must run inside a transaction (the Store's own appendAudit opens one). The chain head row is
   * read and rewritten in the same transaction as the entry: on PostgreSQL `FOR UPDATE` makes
   * concurrent appends queue on that row; on SQLite the transaction already holds the one write
   * lock (BEGIN IMMEDIATE).
   */
  async appendAudit(event: AuditEvent): Promise<AuditEntry> {
    if (!this.inTransaction) throw new Error('appendAudit must run inside a transaction');
    const details = canonicalJson(event.details);
    const headQuery = this.db.selectFrom('audit_head').select(['last_seq', 'last_hash']).where('id', '=', 1);
    const head = await (this.dialect === 'postgres' ? headQuery.forUpdate() : headQuery).executeTakeFirstOrThrow();
    const seq = Number(head.last_seq) + 1;
    const prevHash = head.last_hash;
    const hash = hashAuditEntry(prevHash, seq, event);
    const entry: AuditEntry = {
      seq,
      prevHash,
      hash,
      at: new Date(event.at.getTime()),
      actor: event.actor,
      action: event.action,
      targetType: event.targetType,
      targetId: event.targetId,
      details: JSON.parse(details) as Record<string, unknown>,
    };
    await this.db.insertInto('audit_log').values(rows.auditToRow(entry)).execute();
    await this.db.updateTable('audit_head').set({ last_seq: seq, last_hash: hash }).where('id', '=', 1).execute();
    return entry;
  }

  /** Refuses a checkpoint that does not match the entry at its seq (it would only raise a false alarm later). */
  async insertCheckpoint(checkpoint: AuditCheckpoint): Promise<void> {
    const entry = await this.db.selectFrom('audit_log').select('hash').where('seq', '=', checkpoint.seq).executeTakeFirst();
    if (!entry || entry.hash !== checkpoint.hash) {
      throw new Error(`checkpoint at seq ${checkpoint.seq} does not match the audit entry there (${entry ? 'different hash' : 'no such entry'})`);
    }
    const row = rows.checkpointToRow(checkpoint);
    await this.insert((db) => db.insertInto('audit_checkpoints').values(row).execute());
  }
}

export class KyselyStore extends KyselyStoreTx implements Store {
  constructor(
    private readonly kysely: Kysely<Database>,
    dialect: DialectName,
  ) {
    super(kysely, dialect, false);
  }

  /**
   * One transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: READ COMMITTED, where the
   * compare-and-set UPDATEs re-check their WHERE after waiting for a concurrent writer).
   * Inside `fn` use only `tx`: on SQLite the store has one connection and `fn` holds it, so a
   * call on the outer store would wait for itself.
   */
  async transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.kysely.transaction().execute((trx) => fn(new KyselyStoreTx(trx, this.dialect, true)));
  }

  override async appendAudit(event: AuditEvent): Promise<AuditEntry> {
    return this.transaction((tx) => tx.appendAudit(event));
  }

  // A request or device write and the device's pending request columns commit together.
  override async insertRequest(request: RequestRecord): Promise<void> {
    return this.transaction((tx) => tx.insertRequest(request));
  }

  override async insertDevice(device: DeviceRecord): Promise<void> {
    return this.transaction((tx) => tx.insertDevice(device));
  }

  override async decideRequest(id: RequestId, decision: Parameters<StoreTx['decideRequest']>[1]): Promise<boolean> {
    return this.transaction((tx) => tx.decideRequest(id, decision));
  }

  override async insertCheckpoint(checkpoint: AuditCheckpoint): Promise<void> {
    return this.transaction((tx) => tx.insertCheckpoint(checkpoint));
  }

  async readAudit(fromSeq: number, limit: number): Promise<AuditEntry[]> {
    checkPaging({ limit, offset: 0 });
    const found = await this.db.selectFrom('audit_log').selectAll()
      .where('seq', '>=', fromSeq).orderBy('seq', 'asc').limit(limit).execute();
    return found.map(rows.auditFromRow);
  }

  /** Newest first (seq desc). */
  async listAudit(filter: AuditFilter): Promise<Page<AuditEntry>> {
    const { limit, offset } = checkPaging(filter);
    let query = this.db.selectFrom('audit_log');
    if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
    if (filter.action !== undefined) query = query.where('action', '=', filter.action);
    if (filter.targetId !== undefined) query = query.where('target_id', '=', filter.targetId);
    if (filter.targetIds !== undefined) {
      if (filter.targetIds.length === 0) return { items: [], total: 0 };
      query = query.where('target_id', 'in', [...filter.targetIds]);
    }
    if (filter.fromSeq !== undefined) query = query.where('seq', '>=', filter.fromSeq);
    if (filter.toSeq !== undefined) query = query.where('seq', '<=', filter.toSeq);
    if (filter.since !== undefined) query = query.where('at', '>=', rows.toMillis(filter.since));
    if (filter.until !== undefined) query = query.where('at', '<', rows.toMillis(filter.until));
    const { n } = await query.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const found = await query.selectAll().orderBy('seq', 'desc').limit(limit).offset(offset).execute();
    return { items: found.map(rows.auditFromRow), total: Number(n) };
  }

  async listCheckpoints(): Promise<AuditCheckpoint[]> {
    const found = await this.db.selectFrom('audit_checkpoints').selectAll().orderBy('seq', 'asc').execute();
    return found.map(rows.checkpointFromRow);
  }

  async readAuditHead(): Promise<AuditHead | null> {
    const head = await this.db.selectFrom('audit_head').select(['last_seq', 'last_hash']).where('id', '=', 1).executeTakeFirst();
    return head ? { seq: Number(head.last_seq), hash: head.last_hash } : null;
  }

  /** SQLite: `PRAGMA integrity_check` is "ok" and `PRAGMA foreign_key_check` finds nothing. PostgreSQL: it answers. */
  async checkIntegrity(): Promise<boolean> {
    if (this.dialect === 'sqlite') {
      const integrity = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(this.kysely);
      if (integrity.rows.length !== 1 || integrity.rows[0]?.integrity_check !== 'ok') return false;
      const foreignKeys = await sql`pragma foreign_key_check`.execute(this.kysely);
      return foreignKeys.rows.length === 0;
    }
    const result = await sql<{ one: number }>`select 1 as one`.execute(this.kysely);
    return result.rows[0]?.one === 1;
  }

  async close(): Promise<void> {
    await this.kysely.destroy();
  }
}

/** The column behind each order of the device list (DEVICE_SORTS is the whitelist). */
const DEVICE_SORT_COLUMNS = {
  'updated': 'updated_at',
  'pending-first': 'updated_at',
  'device-id': 'device_id',
  'label': 'label',
  'state': 'state',
  'created': 'created_at',
} as const satisfies Record<DeviceSort, keyof DevicesTable>;

function checkPaging(filter: { limit: number; offset: number }): { limit: number; offset: number } {
  const { limit, offset } = filter;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
  return { limit, offset };
}

/**
 * The devices whose id or label, current request's hardware serial or key SHA-256, or any
 * certificate's serial or SHA-256 contains `text`, case-insensitively: one `device_id in (…)` over
 * a union, each part answered from a trigram index (migration 10).
 *
 * PostgreSQL: `lower(col) LIKE '%text%'`, which pg_trgm's GIN indexes answer. SQLite: the FTS5
 * trigram tables, queried with `text` as one quoted phrase (every character literal; the
 * tokenizer folds case), which matches exactly the rows that contain it. A trigram index cannot
 * answer a text of one or two characters (it has no trigram): SQLite then runs the same LIKE over
 * the FTS tables' own copies of the searched columns, a scan, but of a few MB rather than of the
 * requests table with its request files (docs/storage.md "Text search").
 */
function deviceTextMatch(dialect: DialectName, text: string): Expression<SqlBool> {
  const current = sql`select r.device_id from requests r join devices d on d.device_id = r.device_id and d.current_request_id = r.id`;
  if (dialect === 'sqlite' && [...text].length >= 3) {
    const phrase = `"${text.replaceAll('"', '""')}"`;
    return sql<SqlBool>`device_id in (
      select device_id from devices_search where devices_search match ${phrase}
      union ${current} where r.id in (select id from requests_search where requests_search match ${phrase})
      union select device_id from certificates_search where certificates_search match ${phrase})`;
  }
  const pattern = likePattern(text);
  const like = (expression: RawBuilder<unknown>) => sql`${expression} like ${pattern} escape '!'`;
  const [devices, requests, certificates] = dialect === 'sqlite'
    ? [sql`devices_search`, sql`requests_search`, sql`certificates_search`]
    : [sql`devices`, sql`requests`, sql`certificates`];
  // Key and certificate fingerprints are stored as lowercase hex, like the pattern.
  return sql<SqlBool>`device_id in (
    select device_id from ${devices} where ${like(sql`lower(device_id)`)} or ${like(sql`lower(label)`)}
    union ${current} where r.id in (select s.id from ${requests} s where ${like(sql`lower(s.hardware_serial)`)} or ${like(sql`s.public_key_fingerprint`)})
    union select c.device_id from ${certificates} c where c.device_id is not null and (${like(sql`lower(c.serial)`)} or ${like(sql`c.fingerprint`)}))`;
}

/** `%text%` for LIKE, with '!' escaping the wildcards, lower-cased (compared against lower(column)). */
function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`)}%`;
}

function containsLower(column: string, pattern: string): Expression<SqlBool> {
  return sql<SqlBool>`lower(${sql.ref(column)}) like ${pattern} escape '!'`;
}
