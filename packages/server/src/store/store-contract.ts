/**
 * The contract every `Store` implementation must pass (a node:test suite), run against SQLite
 * (sqlite-store.test.ts) and PostgreSQL (postgres-store.test.ts). For tests only.
 *
 * It lives here rather than in packages/testkit: testkit is a dependency of this package, and a
 * type import of the Store port from testkit breaks testkit's own `tsc -b` (rootDir).
 *
 * `open` must return a fresh, empty store each time: every test opens its own.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { SerialNumber } from '@provisio/pki';
import { GENESIS_HASH, hashAuditEntry } from '../audit/audit-chain.js';
import { verifyStoreAudit } from '../audit/verify-store-audit.js';
import type {
  ApprovalPolicyRecord,
  ApiToken,
  AuditEntry,
  AuditEvent,
  CertificateRecord,
  ComponentId,
  ComponentRecord,
  DeviceIdText,
  DeviceRecord,
  EnrollmentTokenId,
  EnrollmentTokenRecord,
  GatewayId,
  PairingCodeRecord,
  GatewayRecord,
  PackageId,
  PackageRecord,
  ProfileRecord,
  RequestId,
  RequestRecord,
  SystemId,
  SystemRecord,
  User,
  UserId,
} from '../domain/model.js';
import { type Store, StoreConflict } from '../domain/store.js';

/** Times with milliseconds: the store must keep them exactly. */
const T0 = Date.parse('2026-06-01T12:00:00.123Z');
const at = (offsetMs: number): Date => new Date(T0 + offsetMs);
/** Every byte value, zeros included: binary must come back byte-equal. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function fixtures() {
  let n = 0;
  const next = (prefix: string) => `${prefix}-${++n}`;
  const hex = (bytes = 32) => randomBytes(bytes).toString('hex');
  return {
    user: (o: Partial<User> = {}): User => ({
      id: next('usr') as UserId,
      username: next('user'),
      role: 'admin',
      passwordHash: '$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA',
      createdAt: at(1),
      disabledAt: null,
      ...o,
    }),
    token: (userId: UserId, o: Partial<ApiToken> = {}): ApiToken => ({
      id: next('tok'),
      userId,
      tokenHash: randomBytes(32),
      name: next('token name'),
      createdAt: at(2),
      revokedAt: null,
      ...o,
    }),
    system: (o: Partial<SystemRecord> = {}): SystemRecord => ({
      id: next('sys') as SystemId,
      name: next('system'),
      allowMock: true,
      separationOfDuties: true,
      enrollmentSecretApproves: false,
      centralKeyGeneration: false,
      createdAt: at(3),
      ...o,
    }),
    component: (systemId: SystemId, o: Partial<ComponentRecord> = {}): ComponentRecord => ({
      id: next('cmp') as ComponentId,
      systemId,
      name: next('component'),
      keyTypes: ['p256', 'rsa3072'],
      validityDays: 398,
      renewalGraceDays: 0,
      createdAt: at(4),
      ...o,
    }),
    package: (systemId: SystemId, createdBy: UserId, o: Partial<PackageRecord> = {}): PackageRecord => ({
      id: next('pkg') as PackageId,
      systemId,
      status: 'active',
      bootstrapCertificate: ALL_BYTES,
      bootstrapFingerprint: hex(),
      requestLifetimeSeconds: 86_400,
      expiresAt: at(86_400_000),
      createdAt: at(5),
      createdBy,
      revokedAt: null,
      ...o,
    }),
    request: (pkg: PackageRecord, componentId: ComponentId, o: Partial<RequestRecord> = {}): RequestRecord => ({
      id: next('req') as RequestId,
      packageId: pkg.id,
      systemId: pkg.systemId,
      componentId,
      deviceId: next('DEV') as DeviceIdText,
      deviceLabel: next('Pump'),
      hardwareSerial: next('HW'),
      firmwareVersion: '1.2.3',
      nonce: randomBytes(16).toString('base64url'),
      contentHash: hex(),
      raw: Buffer.concat([ALL_BYTES, randomBytes(8)]),
      publicKeyFingerprint: hex(),
      keyAlgorithm: 'ECDSA P-256',
      mock: false,
      transport: 'upload',
      state: 'pending',
      createdAt: at(6),
      expiresAt: at(3_600_000),
      submittedBy: null,
      decidedAt: null,
      decidedBy: null,
      decisionReason: null,
      ...o,
    }),
    device: (request: RequestRecord, o: Partial<DeviceRecord> = {}): DeviceRecord => ({
      deviceId: request.deviceId,
      systemId: request.systemId,
      componentId: request.componentId,
      label: request.deviceLabel,
      state: 'pending',
      mock: request.mock,
      currentRequestId: request.id,
      createdAt: at(7),
      updatedAt: at(7),
      provisionedAt: null,
      lastSeen: null,
      reprovisionAsk: null,
      // What the store computes from the requests: this request when it is pending.
      pendingRequest: request.state === 'pending' ? { id: request.id, kind: request.kind ?? 'provision', expiresAt: request.expiresAt } : null,
      ...o,
    }),
    certificate: (o: Partial<CertificateRecord> = {}): CertificateRecord => ({
      serial: randomBytes(16).toString('hex').replace(/^0+/, '') as SerialNumber,
      issuerFingerprint: 'a'.repeat(64),
      deviceId: null,
      requestId: null,
      kind: 'device',
      der: Buffer.concat([randomBytes(4), ALL_BYTES]),
      fingerprint: hex(),
      notBefore: at(8),
      notAfter: at(398 * 86_400_000),
      status: 'active',
      revokedAt: null,
      revocationReason: null,
      createdAt: at(9),
      ...o,
    }),
    gateway: (createdBy: UserId, o: Partial<GatewayRecord> = {}): GatewayRecord => ({
      id: next('gw') as GatewayId,
      name: next('ward'),
      hosts: ['gw.example.org', '10.0.0.7'],
      certificateSerial: randomBytes(16).toString('hex').replace(/^0+/, '') as SerialNumber,
      certificateFingerprint: hex(),
      createdAt: at(11),
      createdBy,
      revokedAt: null,
      ...o,
    }),
    event: (o: Partial<AuditEvent> = {}): AuditEvent => ({
      at: at(10),
      actor: 'user:alice',
      action: 'system.create',
      targetType: 'system',
      targetId: next('sys'),
      details: { name: 'pumps', nested: { list: [1, 'two', null, true], ünïcode: 'Grüße' } },
      ...o,
    }),
  };
}

async function rejectsConflict(promise: Promise<unknown>, constraint: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StoreConflict, `expected StoreConflict, got ${String(error)}`);
    assert.equal(error.constraint, constraint);
    return true;
  });
}

export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let f: ReturnType<typeof fixtures>;

    beforeEach(async () => {
      store = await open();
      f = fixtures();
    });
    afterEach(async () => {
      await store.close();
    });

    /** A user, a system with one component, an active package. */
    async function base() {
      const user = f.user();
      const system = f.system();
      const component = f.component(system.id);
      const pkg = f.package(system.id, user.id);
      await store.insertUser(user);
      await store.insertSystem(system);
      await store.insertComponent(component);
      await store.insertPackage(pkg);
      return { user, system, component, pkg };
    }

    /** A pending request and its pending device. */
    async function requestWithDevice(b: Awaited<ReturnType<typeof base>>, o: Partial<RequestRecord> = {}, d: Partial<DeviceRecord> = {}) {
      const request = f.request(b.pkg, b.component.id, o);
      const device = f.device(request, d);
      await store.transaction(async (tx) => {
        await tx.insertRequest(request);
        await tx.insertDevice(device);
      });
      return { request, device };
    }

    describe('round-trip', () => {
      it('ok/users-and-tokens', async () => {
        const alice = f.user({ disabledAt: null });
        const bob = f.user({ role: 'auditor', passwordHash: null, disabledAt: at(500) });
        await store.insertUser(alice);
        await store.insertUser(bob);
        assert.deepEqual(await store.findUserById(alice.id), alice);
        assert.deepEqual(await store.findUserByName(bob.username), bob);
        assert.equal(await store.findUserByName('nobody'), null);
        assert.equal(await store.findUserById('usr-none' as UserId), null);
        assert.deepEqual(await store.listUsers(), [alice, bob].sort((a, b) => (a.username < b.username ? -1 : 1)));

        const token = f.token(alice.id);
        const revoked = f.token(alice.id, { revokedAt: at(600) });
        const ofDisabled = f.token(bob.id);
        await store.insertToken(token);
        await store.insertToken(revoked);
        await store.insertToken(ofDisabled);
        assert.deepEqual(await store.findActiveToken(token.tokenHash), { token, user: alice });
        assert.equal(await store.findActiveToken(revoked.tokenHash), null, 'a revoked token is not active');
        assert.equal(await store.findActiveToken(ofDisabled.tokenHash), null, 'a disabled user\'s token is not active');
        assert.equal(await store.findActiveToken(randomBytes(32)), null);
      });

      it('ok/systems-components-packages', async () => {
        const { user, system, component, pkg } = await base();
        const other = f.system({ name: 'a-first-by-name', allowMock: false });
        await store.insertSystem(other);
        assert.deepEqual(await store.findSystemById(system.id), system);
        assert.deepEqual(await store.findSystemByName(other.name), other);
        assert.equal(await store.findSystemByName('none'), null);
        assert.deepEqual(await store.listSystems(), [other, system]);
        assert.equal(await store.transaction((tx) => tx.setSystemSeparationOfDuties(system.id, false)), true);
        assert.equal(await store.transaction((tx) => tx.setSystemSeparationOfDuties('sys-none' as SystemId, false)), false);
        assert.deepEqual(await store.findSystemById(system.id), { ...system, separationOfDuties: false });
        assert.deepEqual(await store.findSystemById(other.id), other);
        await store.transaction((tx) => tx.setSystemSeparationOfDuties(system.id, true));

        // What an approval reads again in its transaction (locked for share on PostgreSQL).
        assert.deepEqual(
          await store.transaction((tx) => tx.readApprovalRows({ userId: user.id, systemId: system.id, componentId: component.id, packageId: pkg.id })),
          { user, system, component, package: pkg },
        );
        assert.deepEqual(
          await store.transaction((tx) => tx.readApprovalRows({ userId: null, systemId: 'sys-none' as SystemId, componentId: component.id, packageId: null })),
          { user: null, system: null, component, package: null },
        );
        assert.equal((await store.transaction((tx) => tx.readApprovalRows({ userId: 'usr-none' as UserId, systemId: system.id, componentId: component.id, packageId: 'pkg-none' as PackageId }))).package, null);

        const second = f.component(system.id, { name: 'a-component', keyTypes: ['p384'], validityDays: 30 });
        await store.insertComponent(second);
        assert.deepEqual(await store.findComponentById(component.id), component);
        assert.deepEqual(await store.findComponent(system.id, second.name), second);
        assert.equal(await store.findComponent(other.id, second.name), null);
        assert.deepEqual(await store.listComponents(system.id), [second, component]);
        assert.deepEqual(await store.listComponents(other.id), []);
        // Migration 6: the renewal grace period round-trips and can be changed.
        await store.setComponentRenewalGrace(second.id, 14);
        assert.deepEqual(await store.findComponentById(second.id), { ...second, renewalGraceDays: 14 });
        assert.deepEqual(await store.findComponentById(component.id), component);

        const older = f.package(other.id, user.id, { createdAt: at(-1000), status: 'revoked', revokedAt: at(-500) });
        await store.insertPackage(older);
        assert.deepEqual(await store.findPackage(pkg.id), pkg);
        assert.deepEqual(await store.findPackage(older.id), older);
        assert.deepEqual(await store.listPackages(), [pkg, older], 'newest first');
        assert.deepEqual(await store.listPackages(other.id), [older]);
      });

      it('ok/requests-devices-certificates-profiles', async () => {
        const b = await base();
        const { request, device } = await requestWithDevice(b, {
          mock: true,
          transport: 'connected',
          submittedBy: b.user.id,
        });
        const bare = f.request(b.pkg, b.component.id, { hardwareSerial: null, firmwareVersion: null, transport: 'proxy' });
        await store.insertRequest(bare);
        // Migration 6: a renewal is a request of kind 'renewal'; a provisioning request has none.
        const renewal = f.request(b.pkg, b.component.id, { kind: 'renewal', state: 'approved' });
        await store.insertRequest(renewal);
        assert.deepEqual(await store.findRequest(renewal.id), renewal);
        assert.deepEqual(await store.findRequest(request.id), request);
        assert.deepEqual(await store.findRequest(bare.id), bare);
        assert.deepEqual(await store.findRequestByContentHash(request.contentHash), request);
        assert.deepEqual(await store.findRequestByNonce(b.pkg.id, bare.nonce), bare);
        assert.equal(await store.findRequestByNonce(b.pkg.id, 'no-such-nonce'), null);
        assert.equal(await store.findRequest('req-none' as RequestId), null);
        assert.deepEqual(await store.findDevice(device.deviceId), device);
        assert.equal(await store.findDevice('none' as DeviceIdText), null);

        const cert = f.certificate({ deviceId: device.deviceId, requestId: request.id, createdAt: at(100) });
        const older = f.certificate({
          deviceId: device.deviceId,
          createdAt: at(50),
          status: 'revoked',
          revokedAt: at(60),
          revocationReason: 'keyCompromise',
        });
        const bootstrap = f.certificate({ kind: 'bootstrap' });
        await store.insertCertificate(cert);
        await store.insertCertificate(older);
        await store.insertCertificate(bootstrap);
        assert.deepEqual(await store.findCertificate(cert.issuerFingerprint, cert.serial), cert);
        assert.deepEqual(await store.findCertificate(bootstrap.issuerFingerprint, bootstrap.serial), bootstrap);
        assert.equal(await store.findCertificate('b'.repeat(64), cert.serial), null, 'the serial is per issuer');
        assert.deepEqual(await store.findCertificateByRequest(request.id), cert);
        assert.equal(await store.findCertificateByRequest(bare.id), null);
        assert.deepEqual(await store.listCertificatesForDevice(device.deviceId), [cert, older]);

        const profile: ProfileRecord = { requestId: request.id, deviceId: device.deviceId, content: ALL_BYTES, createdAt: at(101) };
        await store.insertProfile(profile);
        assert.deepEqual(await store.findProfile(request.id), profile);
        assert.equal(await store.findProfile(bare.id), null);
      });
    });

    describe('enrollment tokens (migration 13)', () => {
      it('ok/token/insert-find-list-use-revoke-and-a-request-without-package', async () => {
        const b = await base();
        const token = (o: Partial<EnrollmentTokenRecord> = {}): EnrollmentTokenRecord => ({
          id: randomBytes(8).toString('hex') as EnrollmentTokenId,
          systemId: b.system.id,
          componentId: b.component.id,
          deviceId: 'DEV-001' as DeviceIdText,
          devicePattern: null,
          secretSha256: randomBytes(32),
          maxUses: 2,
          uses: 0,
          expiresAt: at(86_400_000),
          createdAt: at(10),
          createdBy: b.user.id,
          revokedAt: null,
          lastUsedAt: null,
          ...o,
        });
        const one = token();
        const two = token({ deviceId: null, devicePattern: '^DEV-[0-9]+$', createdAt: at(20), maxUses: 1 });
        await store.transaction(async (tx) => {
          await tx.insertEnrollmentToken(one);
          await tx.insertEnrollmentToken(two);
        });
        assert.deepEqual(await store.findEnrollmentToken(one.id), one);
        assert.deepEqual(await store.findEnrollmentToken(two.id), two);
        assert.equal(await store.findEnrollmentToken('0000000000000000' as EnrollmentTokenId), null);
        assert.deepEqual(await store.listEnrollmentTokens({}), [two, one], 'newest first');
        assert.deepEqual(await store.listEnrollmentTokens({ systemId: 'sys-none' as SystemId }), []);
        await rejectsConflict(store.insertEnrollmentToken(token({ id: one.id })), 'enrollment_tokens_pkey');

        // Compare-and-set on uses: twenty concurrent uses of a two-use token make two winners.
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.transaction(async (tx) => {
          const now = await tx.findEnrollmentToken(one.id);
          return tx.useEnrollmentToken(one.id, { expectedUses: now?.uses ?? 0, at: at(100 + i) });
        })));
        assert.ok(results.filter(Boolean).length <= 2, 'never more uses than allowed');
        assert.equal(await store.transaction((tx) => tx.useEnrollmentToken(two.id, { expectedUses: 0, at: at(200) })), true);
        assert.equal(await store.transaction((tx) => tx.useEnrollmentToken(two.id, { expectedUses: 1, at: at(201) })), false, 'no uses left');
        assert.deepEqual(await store.findEnrollmentToken(two.id), { ...two, uses: 1, lastUsedAt: at(200) });
        assert.equal(await store.transaction((tx) => tx.revokeEnrollmentToken(one.id, at(300))), true);
        assert.equal(await store.transaction((tx) => tx.revokeEnrollmentToken(one.id, at(301))), false);
        assert.deepEqual((await store.findEnrollmentToken(one.id))?.revokedAt, at(300));
        const used = (await store.findEnrollmentToken(one.id))?.uses ?? 0;
        assert.equal(await store.transaction((tx) => tx.useEnrollmentToken(one.id, { expectedUses: used, at: at(302) })), false, 'revoked');

        // The system switch round-trips.
        assert.equal(await store.transaction((tx) => tx.setSystemEnrollmentSecretApproves(b.system.id, true)), true);
        assert.equal((await store.findSystemById(b.system.id))?.enrollmentSecretApproves, true);

        // A request a token made has no package and says how it authenticated.
        const request = { ...f.request(b.pkg, b.component.id), packageId: null, enrollment: { kind: 'token' as const, id: two.id } };
        await store.transaction(async (tx) => {
          await tx.insertRequest(request);
          await tx.insertDevice(f.device(request));
        });
        assert.deepEqual(await store.findRequest(request.id), request);
      });
    });

    describe('pairing codes (migration 14)', () => {
      it('ok/pairing/save-find-list-count-lock-use-revoke-reset', async () => {
        const b = await base();
        const record = (o: Partial<PairingCodeRecord> = {}): PairingCodeRecord => ({
          deviceId: 'DEV-001' as DeviceIdText,
          systemId: b.system.id,
          componentId: b.component.id,
          deviceLabel: 'Bed 12',
          codeHash: '$scrypt$N=32768,r=8,p=1$c2FsdA$aGFzaA',
          failedAttempts: 0,
          lockedAt: null,
          expiresAt: at(86_400_000),
          createdAt: at(10),
          createdBy: b.user.id,
          revokedAt: null,
          usedAt: null,
          usedRequestId: null,
          usedCsrSha256: null,
          ...o,
        });
        const one = record();
        const two = record({ deviceId: 'DEV-002' as DeviceIdText, createdAt: at(20) });
        await store.transaction(async (tx) => {
          await tx.savePairingCode(one, { replace: false });
          await tx.savePairingCode(two, { replace: false });
        });
        assert.deepEqual(await store.findPairingCode(one.deviceId), one);
        assert.equal(await store.findPairingCode('DEV-404' as DeviceIdText), null);
        assert.deepEqual(await store.listPairingCodes({}), [two, one], 'newest first');
        await rejectsConflict(store.savePairingCode(record(), { replace: false }), 'pairing_codes_pkey');

        // Twenty concurrent wrong codes counted from the same reading: one is counted.
        const count = () => store.transaction((tx) => tx.recordPairingFailure(one.deviceId, { expectedFailures: 0, lockAt: null }));
        const results = await Promise.all(Array.from({ length: 20 }, count));
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal(await store.transaction((tx) => tx.recordPairingFailure(one.deviceId, { expectedFailures: 1, lockAt: at(50) })), true);
        assert.deepEqual(await store.findPairingCode(one.deviceId), { ...one, failedAttempts: 2, lockedAt: at(50) });
        assert.equal(await store.transaction((tx) => tx.recordPairingFailure(one.deviceId, { expectedFailures: 2, lockAt: null })), false, 'locked: no more counting');
        const request = f.request(b.pkg, b.component.id);
        await store.transaction(async (tx) => {
          await tx.insertRequest(request);
          await tx.insertDevice(f.device(request));
        });
        assert.equal(await store.transaction((tx) => tx.usePairingCode(one.deviceId, { at: at(60), requestId: request.id, csrSha256: 'ab'.repeat(32) })), false, 'a locked code is not used');
        assert.equal(await store.transaction((tx) => tx.resetPairingCode(one.deviceId)), true);
        assert.equal(await store.transaction((tx) => tx.usePairingCode(one.deviceId, { at: at(61), requestId: request.id, csrSha256: 'ab'.repeat(32) })), true);
        assert.equal(await store.transaction((tx) => tx.usePairingCode(one.deviceId, { at: at(62), requestId: request.id, csrSha256: 'ab'.repeat(32) })), false, 'once');
        assert.deepEqual(await store.findPairingCode(one.deviceId), { ...one, usedAt: at(61), usedRequestId: request.id, usedCsrSha256: 'ab'.repeat(32) });
        assert.equal(await store.transaction((tx) => tx.revokePairingCode(two.deviceId, at(70))), true);
        assert.equal(await store.transaction((tx) => tx.revokePairingCode(two.deviceId, at(71))), false);
        assert.equal(await store.transaction((tx) => tx.resetPairingCode('DEV-404' as DeviceIdText)), false);
        const replaced = record({ deviceId: two.deviceId, createdAt: at(80) });
        await store.transaction((tx) => tx.savePairingCode(replaced, { replace: true }));
        assert.deepEqual(await store.findPairingCode(two.deviceId), replaced);
        assert.equal(await store.transaction((tx) => tx.setSystemCentralKeyGeneration(b.system.id, true)), true);
        assert.equal((await store.findSystemById(b.system.id))?.centralKeyGeneration, true);
      });
    });

    describe('proxy gateways', () => {
      it('ok/gateway/insert-find-list-revoke-and-request-carrier', async () => {
        const b = await base();
        const west = f.gateway(b.user.id, { name: 'west' });
        const east = f.gateway(b.user.id, { name: 'east', hosts: ['127.0.0.1'] });
        await store.transaction(async (tx) => {
          await tx.insertGateway(west);
          await tx.insertGateway(east);
        });
        assert.deepEqual(await store.findGatewayByName('west'), west);
        assert.deepEqual(await store.findGatewayById(east.id), east);
        assert.deepEqual(await store.findGatewayByFingerprint(west.certificateFingerprint), west);
        assert.equal(await store.findGatewayByName('north'), null);
        assert.equal(await store.findGatewayByFingerprint('f'.repeat(64)), null);
        assert.deepEqual(await store.listGateways(), [east, west], 'ordered by name');

        // A request carried by a gateway keeps it; one without reads back without it.
        const { request } = await requestWithDevice(b, { transport: 'proxy', gatewayId: west.id });
        assert.deepEqual(await store.findRequest(request.id), request);
        assert.equal((await store.findRequest(request.id))?.gatewayId, west.id);

        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.transaction((tx) => tx.revokeGateway(west.id, at(100 + i)))));
        assert.equal(results.filter(Boolean).length, 1, 'one revocation wins');
        assert.deepEqual((await store.findGatewayById(west.id))?.revokedAt, at(100 + results.indexOf(true)));
        assert.equal(await store.revokeGateway(west.id, at(999)), false);
        assert.equal(await store.revokeGateway('gw-none' as GatewayId, at(999)), false);
      });

      it('fail/unique/gateway-name-and-certificate', async () => {
        const { user } = await base();
        const first = f.gateway(user.id);
        await store.insertGateway(first);
        await rejectsConflict(store.insertGateway(f.gateway(user.id, { name: first.name })), 'gateways_name_key');
        await rejectsConflict(store.insertGateway(f.gateway(user.id, { certificateFingerprint: first.certificateFingerprint })), 'gateways_certificate_fingerprint_key');
        await rejectsConflict(store.insertGateway(f.gateway(user.id, { id: first.id })), 'gateways_pkey');
        assert.equal((await store.listGateways()).length, 1);
      });
    });

    describe('approval policies', () => {
      it('ok/policy/save-find-replace-and-count-automatic-approvals', async () => {
        const b = await base();
        assert.equal(await store.findApprovalPolicy(b.system.id, null), null);
        const systemPolicy: ApprovalPolicyRecord = {
          id: 'pol-1', systemId: b.system.id, componentId: null, mode: 'automatic',
          rules: { deviceIdPattern: '^ZM-[0-9]+$', serialAllowList: ['SN-1'], transports: ['upload'], maxPerHour: 2, packageIds: [b.pkg.id] },
          createdAt: at(1), createdBy: b.user.id, updatedAt: at(1), updatedBy: b.user.id,
        };
        assert.deepEqual(await store.transaction((tx) => tx.saveApprovalPolicy(systemPolicy)), systemPolicy);
        const componentPolicy: ApprovalPolicyRecord = { ...systemPolicy, id: 'pol-2', componentId: b.component.id, mode: 'manual', rules: {} };
        await store.saveApprovalPolicy(componentPolicy);
        assert.deepEqual(await store.findApprovalPolicy(b.system.id, null), systemPolicy);
        assert.deepEqual(await store.findApprovalPolicy(b.system.id, b.component.id), componentPolicy);
        // Saving the same scope again replaces mode and rules and keeps id and creation.
        const replaced = await store.saveApprovalPolicy({ ...systemPolicy, id: 'pol-3', mode: 'manual', rules: { maxPerHour: 5 }, updatedAt: at(9) });
        assert.deepEqual(replaced, { ...systemPolicy, mode: 'manual', rules: { maxPerHour: 5 }, updatedAt: at(9) });

        const { request } = await requestWithDevice(b);
        const { request: other } = await requestWithDevice(b);
        const since = { systemId: b.system.id, componentId: null, since: at(0) };
        assert.equal(await store.countAutoApprovals(since), 0);
        const verdict = { decision: 'approve' as const, rule: 'maxPerHour', reason: 'rules maxPerHour passed' };
        await store.transaction(async (tx) => {
          assert.equal(await tx.decideRequest(request.id, { state: 'approved', at: at(10), by: null, reason: null }), true);
          await tx.setRequestPolicyVerdict(request.id, verdict);
          await tx.setRequestPolicyVerdict(other.id, { decision: 'manual', rule: 'mode', reason: 'policy mode is manual' });
        });
        assert.deepEqual((await store.findRequest(request.id))?.policy, verdict);
        assert.equal((await store.findRequest(request.id))?.decidedBy, null);
        assert.equal((await store.findRequest(other.id))?.policy?.decision, 'manual');
        assert.equal(await store.transaction((tx) => tx.countAutoApprovals({ ...since, lockPolicyId: 'pol-1' })), 1);
        assert.equal(await store.countAutoApprovals({ ...since, componentId: b.component.id }), 1);
        assert.equal(await store.countAutoApprovals({ ...since, since: at(11) }), 0, 'older than the window');
      });
    });

    describe('enrollment protocols and CMP transactions', () => {
      it('ok/protocols/enable-once-list-in-order-disable-per-scope', async () => {
        const b = await base();
        const other = f.component(b.system.id);
        await store.insertComponent(other);
        assert.deepEqual(await store.listProtocolSwitches(), []);
        const onComponent = { systemId: b.system.id, componentId: b.component.id, protocol: 'est' as const, enabledAt: at(1), enabledBy: b.user.id };
        const onSystem = { ...onComponent, componentId: null, protocol: 'cmp' as const, enabledAt: at(2) };
        assert.equal(await store.transaction((tx) => tx.enableProtocol(onComponent)), true);
        assert.equal(await store.enableProtocol(onSystem), true);
        assert.equal(await store.enableProtocol({ ...onComponent, enabledAt: at(3) }), false, 'enabled already: the first row stays');
        assert.equal(await store.enableProtocol({ ...onComponent, componentId: other.id, protocol: 'scep' }), true);
        const all = await store.listProtocolSwitches(b.system.id);
        // The system's own switch first, then its components'.
        assert.deepEqual(all[0], onSystem);
        assert.deepEqual(all.slice(1).map((p) => [p.componentId, p.protocol]).sort(), [[b.component.id, 'est'], [other.id, 'scep']].sort());
        assert.deepEqual(all.find((p) => p.protocol === 'est'), onComponent);
        assert.equal(await store.disableProtocol(b.system.id, null, 'est'), false, 'est is on the component, not the system');
        assert.equal(await store.transaction((tx) => tx.disableProtocol(b.system.id, b.component.id, 'est')), true);
        assert.equal(await store.disableProtocol(b.system.id, b.component.id, 'est'), false);
        assert.deepEqual((await store.listProtocolSwitches()).map((p) => p.protocol).sort(), ['cmp', 'scep']);
      });

      it('ok/cmp/transactions-unique-by-id-and-nonce-compare-and-set', async () => {
        const b = await base();
        const { request } = await requestWithDevice(b, { protocol: 'cmp' });
        assert.equal((await store.findRequest(request.id))?.protocol, 'cmp');
        const opened = {
          transactionId: 'aa01', senderNonce: 'bb01', serverNonce: 'cc01', bodyType: 'ir', state: 'waiting' as const,
          deviceId: request.deviceId, requestId: request.id, serial: null, createdAt: at(1), updatedAt: at(1),
        };
        await store.transaction((tx) => tx.insertCmpTransaction(opened));
        assert.deepEqual(await store.findCmpTransaction('aa01'), opened);
        assert.deepEqual(await store.findCmpTransactionByNonce('bb01'), opened);
        assert.equal(await store.findCmpTransaction('aa02'), null);
        await assert.rejects(store.insertCmpTransaction({ ...opened, senderNonce: 'bb02' }), (e: unknown) => e instanceof StoreConflict && e.constraint === 'cmp_transactions_pkey');
        await assert.rejects(store.insertCmpTransaction({ ...opened, transactionId: 'aa02' }), (e: unknown) => e instanceof StoreConflict && e.constraint === 'cmp_transactions_sender_nonce_key');
        const serial = 'ab'.repeat(16) as SerialNumber;
        assert.equal(await store.updateCmpTransaction('aa01', ['waiting'], 'issued', { serverNonce: 'cc02', at: at(2), serial }), true);
        assert.equal(await store.updateCmpTransaction('aa01', ['waiting'], 'issued', { serverNonce: 'cc03', at: at(3) }), false, 'not waiting any more');
        assert.deepEqual(await store.findCmpTransaction('aa01'), { ...opened, state: 'issued', serverNonce: 'cc02', serial, updatedAt: at(2) });
      });
    });

    describe('conflicts', () => {
      it('fail/unique/users-and-tokens', async () => {
        const alice = f.user();
        await store.insertUser(alice);
        const sameName = f.user({ username: alice.username });
        await rejectsConflict(store.insertUser(sameName), 'users_username_key');
        assert.equal(await store.findUserById(sameName.id), null, 'nothing written');
        await rejectsConflict(store.insertUser(f.user({ id: alice.id })), 'users_pkey');
        const token = f.token(alice.id);
        await store.insertToken(token);
        const sameHash = f.token(alice.id, { tokenHash: Buffer.from(token.tokenHash) });
        await rejectsConflict(store.insertToken(sameHash), 'api_tokens_token_hash_key');
        assert.equal((await store.findActiveToken(token.tokenHash))?.token.id, token.id);
      });

      it('fail/unique/systems-components', async () => {
        const { system, component } = await base();
        const sameName = f.system({ name: system.name });
        await rejectsConflict(store.insertSystem(sameName), 'systems_name_key');
        assert.equal(await store.findSystemById(sameName.id), null);
        const sameComponent = f.component(system.id, { name: component.name });
        await rejectsConflict(store.insertComponent(sameComponent), 'components_system_id_name_key');
        assert.equal(await store.findComponentById(sameComponent.id), null);
        // The same component name in another system is fine.
        const other = f.system();
        await store.insertSystem(other);
        await store.insertComponent(f.component(other.id, { name: component.name }));
      });

      it('fail/unique/requests-devices', async () => {
        const b = await base();
        const { request, device } = await requestWithDevice(b);
        const sameNonce = f.request(b.pkg, b.component.id, { nonce: request.nonce });
        await rejectsConflict(store.insertRequest(sameNonce), 'requests_package_id_nonce_key');
        const sameContent = f.request(b.pkg, b.component.id, { contentHash: request.contentHash });
        await rejectsConflict(store.insertRequest(sameContent), 'requests_content_hash_key');
        assert.equal(await store.findRequest(sameNonce.id), null);
        assert.equal(await store.findRequest(sameContent.id), null);
        // The same nonce under another package is a different request.
        const pkg2 = f.package(b.system.id, b.user.id);
        await store.insertPackage(pkg2);
        await store.insertRequest(f.request(pkg2, b.component.id, { nonce: request.nonce }));

        const again = f.request(b.pkg, b.component.id);
        await store.insertRequest(again);
        await rejectsConflict(store.insertDevice(f.device(again, { deviceId: device.deviceId, label: 'other' })), 'devices_pkey');
        assert.equal((await store.findDevice(device.deviceId))?.label, device.label);
      });

      it('fail/unique/certificates-profiles', async () => {
        const b = await base();
        const { request, device } = await requestWithDevice(b);
        const cert = f.certificate({ deviceId: device.deviceId, requestId: request.id });
        await store.insertCertificate(cert);
        // security.md I4: (issuer, serial) never reused.
        await rejectsConflict(store.insertCertificate(f.certificate({ serial: cert.serial })), 'certificates_pkey');
        // The same serial from another issuer is a different certificate.
        await store.insertCertificate(f.certificate({ serial: cert.serial, issuerFingerprint: 'c'.repeat(64) }));
        // security.md I3: one certificate per request.
        const second = f.certificate({ requestId: request.id });
        await rejectsConflict(store.insertCertificate(second), 'certificates_request_id_key');
        assert.equal(await store.findCertificate(second.issuerFingerprint, second.serial), null);
        // Any number of certificates without a request.
        await store.insertCertificate(f.certificate());
        await store.insertCertificate(f.certificate());

        const profile: ProfileRecord = { requestId: request.id, deviceId: device.deviceId, content: Buffer.from('one'), createdAt: at(1) };
        await store.insertProfile(profile);
        await rejectsConflict(store.insertProfile({ ...profile, content: Buffer.from('two') }), 'profiles_pkey');
        assert.deepEqual((await store.findProfile(request.id))?.content, Buffer.from('one'));
      });

      it('ok/conflict-inside-transaction-can-be-handled', async () => {
        // An idempotent resubmission: the insert conflicts, the caller looks the row up and goes on
        // in the same transaction (PostgreSQL would abort the transaction without a savepoint).
        const b = await base();
        const { request } = await requestWithDevice(b);
        const resubmitted = f.request(b.pkg, b.component.id, { contentHash: request.contentHash });
        const system = f.system();
        const found = await store.transaction(async (tx) => {
          await tx.insertSystem(system);
          await rejectsConflict(tx.insertRequest(resubmitted), 'requests_content_hash_key');
          const existing = await tx.findRequestByContentHash(request.contentHash);
          await tx.appendAudit(f.event({ action: 'request.resubmit', targetId: request.id }));
          return existing;
        });
        assert.deepEqual(found, request);
        assert.deepEqual(await store.findSystemById(system.id), system, 'the rest of the transaction committed');
        assert.equal(await store.findRequest(resubmitted.id), null);
        assert.equal((await verifyStoreAudit(store)).ok, true);
      });
    });

    describe('transactions', () => {
      it('fail/throw-inside-leaves-nothing', async () => {
        const user = f.user();
        const system = f.system();
        await store.appendAudit(f.event());
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.insertUser(user);
            await tx.insertSystem(system);
            await tx.appendAudit(f.event({ action: 'system.create', targetId: system.id }));
            throw new Error('boom');
          }),
          /boom/,
        );
        assert.equal(await store.findUserById(user.id), null);
        assert.equal(await store.findSystemById(system.id), null);
        assert.equal((await store.readAudit(1, 10)).length, 1, 'the audit entry was rolled back');
        const next = await store.appendAudit(f.event());
        assert.equal(next.seq, 2, 'the chain head was rolled back with it');
        assert.equal((await verifyStoreAudit(store)).ok, true);
      });

      it('ok/returns-the-value-and-commits', async () => {
        const system = f.system();
        const value = await store.transaction(async (tx) => {
          await tx.insertSystem(system);
          return 42;
        });
        assert.equal(value, 42);
        assert.deepEqual(await store.findSystemById(system.id), system);
      });
    });

    describe('compare-and-set', () => {
      it('ok/decide-request/twenty-concurrent-one-winner', async () => {
        const b = await base();
        const { request } = await requestWithDevice(b);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.transaction((tx) =>
              tx.decideRequest(request.id, {
                state: i % 2 === 0 ? 'approved' : 'rejected',
                at: at(1000 + i),
                by: b.user.id,
                reason: `reason ${i}`,
              }),
            ),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const winner = results.indexOf(true);
        const decided = await store.findRequest(request.id);
        assert.equal(decided?.state, winner % 2 === 0 ? 'approved' : 'rejected');
        assert.deepEqual(decided?.decidedAt, at(1000 + winner));
        assert.equal(decided?.decidedBy, b.user.id);
        assert.equal(decided?.decisionReason, `reason ${winner}`);
        assert.equal(await store.decideRequest(request.id, { state: 'approved', at: at(5000), by: b.user.id, reason: null }), false);
        assert.equal(await store.decideRequest('req-none' as RequestId, { state: 'approved', at: at(5000), by: b.user.id, reason: null }), false);
      });

      it('ok/transition-device/twenty-concurrent-one-winner', async () => {
        const b = await base();
        const { device } = await requestWithDevice(b);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.transaction((tx) => tx.transitionDevice(device.deviceId, ['pending'], 'approved', at(2000 + i))),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const approved = await store.findDevice(device.deviceId);
        assert.equal(approved?.state, 'approved');
        assert.deepEqual(approved?.updatedAt, at(2000 + results.indexOf(true)));
        assert.equal(approved?.provisionedAt, null);

        assert.equal(await store.transitionDevice(device.deviceId, ['pending'], 'rejected', at(3000)), false, 'not pending any more');
        assert.equal(await store.transitionDevice(device.deviceId, [], 'revoked', at(3000)), false, 'no state to leave from');
        assert.equal(await store.transitionDevice('none' as DeviceIdText, ['approved'], 'revoked', at(3000)), false);

        const renewal = f.request(b.pkg, b.component.id, { deviceId: device.deviceId });
        await store.insertRequest(renewal);
        assert.equal(
          await store.transitionDevice(device.deviceId, ['pending', 'approved'], 'provisioned', at(4000), { currentRequestId: renewal.id }),
          true,
        );
        assert.deepEqual(await store.findDevice(device.deviceId), {
          ...device,
          state: 'provisioned',
          currentRequestId: renewal.id,
          updatedAt: at(4000),
          provisionedAt: at(4000),
        });
        assert.equal(await store.transitionDevice(device.deviceId, ['provisioned'], 'revoked', at(5000)), true);
        const revoked = await store.findDevice(device.deviceId);
        assert.deepEqual(revoked?.provisionedAt, at(4000), 'provisionedAt is kept when leaving provisioned');
        assert.deepEqual(revoked?.updatedAt, at(5000));
      });

      it('ok/revoke-package', async () => {
        const { pkg } = await base();
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.transaction((tx) => tx.revokePackage(pkg.id, at(100 + i)))),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const revoked = await store.findPackage(pkg.id);
        assert.equal(revoked?.status, 'revoked');
        assert.deepEqual(revoked?.revokedAt, at(100 + results.indexOf(true)));
        assert.equal(await store.revokePackage(pkg.id, at(999)), false);
      });
    });

    describe('lists', () => {
      it('ok/requests/filters-order-paging', async () => {
        const b = await base();
        const other = f.component(b.system.id);
        await store.insertComponent(other);
        const system2 = f.system();
        const component2 = f.component(system2.id);
        const pkg2 = f.package(system2.id, b.user.id);
        await store.insertSystem(system2);
        await store.insertComponent(component2);
        await store.insertPackage(pkg2);

        const made: RequestRecord[] = [];
        for (let i = 0; i < 12; i++) {
          const onOther = i % 3 === 0;
          const r = f.request(i === 11 ? pkg2 : b.pkg, i === 11 ? component2.id : onOther ? other.id : b.component.id, {
            id: `req-${String(i).padStart(2, '0')}` as RequestId,
            deviceId: `DEV-${i}` as DeviceIdText,
            deviceLabel: i === 4 ? 'Boiler 100%_Main' : `Pump ${i}`,
            hardwareSerial: i === 7 ? 'SN-ABCdef' : null,
            state: i % 4 === 1 ? 'approved' : i % 4 === 2 ? 'rejected' : 'pending',
            // Two pairs share a createdAt: the id breaks the tie (desc).
            createdAt: at(i === 6 ? 5000 : i === 8 ? 7000 : i * 1000),
          });
          await store.insertRequest(r);
          made.push(r);
        }
        const newestFirst = (list: RequestRecord[]) =>
          [...list].sort((x, y) => y.createdAt.getTime() - x.createdAt.getTime() || (x.id < y.id ? 1 : -1));

        const all = await store.listRequests({ limit: 100, offset: 0 });
        assert.equal(all.total, 12);
        assert.deepEqual(all.items, newestFirst(made));
        assert.deepEqual(all.items.slice(0, 4).map((r) => r.id), ['req-11', 'req-10', 'req-09', 'req-08']);
        assert.deepEqual(all.items.slice(4, 8).map((r) => r.id), ['req-07', 'req-06', 'req-05', 'req-04']);

        const page = await store.listRequests({ limit: 5, offset: 5 });
        assert.equal(page.total, 12);
        assert.deepEqual(page.items, newestFirst(made).slice(5, 10));
        const beyond = await store.listRequests({ limit: 5, offset: 50 });
        assert.deepEqual(beyond, { items: [], total: 12 });

        const pending = await store.listRequests({ state: 'pending', limit: 2, offset: 0 });
        assert.equal(pending.total, made.filter((r) => r.state === 'pending').length);
        assert.deepEqual(pending.items, newestFirst(made.filter((r) => r.state === 'pending')).slice(0, 2));

        const bySystem = await store.listRequests({ systemId: system2.id, limit: 10, offset: 0 });
        assert.deepEqual(bySystem.items.map((r) => r.id), ['req-11']);
        const byComponent = await store.listRequests({ componentId: other.id, state: 'pending', limit: 10, offset: 0 });
        assert.deepEqual(byComponent.items, newestFirst(made.filter((r) => r.componentId === other.id && r.state === 'pending')));

        const text = async (t: string) => (await store.listRequests({ text: t, limit: 100, offset: 0 })).items.map((r) => r.id);
        assert.deepEqual(await text('dev-1'), ['req-11', 'req-10', 'req-01'], 'deviceId, case-insensitive');
        assert.deepEqual(await text('BOILER'), ['req-04'], 'label');
        assert.deepEqual(await text('abcDEF'), ['req-07'], 'hardware serial');
        assert.deepEqual(await text('100%_'), ['req-04'], 'wildcards are literal');
        assert.deepEqual(await text('%'), ['req-04']);
        assert.deepEqual(await text('_'), ['req-04']);
        assert.deepEqual(await text('nothing like this'), []);
      });

      it('ok/devices/filters-order-paging', async () => {
        const b = await base();
        const other = f.component(b.system.id);
        await store.insertComponent(other);
        const made: DeviceRecord[] = [];
        for (let i = 0; i < 8; i++) {
          const { device } = await requestWithDevice(
            b,
            { deviceId: `Dev-${i}` as DeviceIdText, componentId: i % 2 === 0 ? other.id : b.component.id, hardwareSerial: i === 5 ? 'HWSERIAL-XYZ' : null },
            {
              label: i === 3 ? 'Kitchen Sensor' : `Sensor ${i}`,
              state: i % 3 === 0 ? 'provisioned' : 'pending',
              // Devices 2 and 6 share updatedAt: deviceId breaks the tie (asc).
              updatedAt: at(i === 6 ? 2000 : i * 1000),
            },
          );
          made.push(device);
        }
        const cert = f.certificate({ deviceId: made[1]?.deviceId ?? null, serial: '0abcdef123' as SerialNumber });
        await store.insertCertificate(cert);
        const order = (list: DeviceRecord[]) =>
          [...list].sort((x, y) => y.updatedAt.getTime() - x.updatedAt.getTime() || (x.deviceId < y.deviceId ? -1 : 1));

        const all = await store.listDevices({ limit: 100, offset: 0 });
        assert.equal(all.total, 8);
        assert.deepEqual(all.items, order(made));
        assert.deepEqual(all.items.map((d) => d.deviceId).slice(3, 6), ['Dev-3', 'Dev-2', 'Dev-6']);
        const page = await store.listDevices({ limit: 3, offset: 3 });
        assert.deepEqual(page, { items: order(made).slice(3, 6), total: 8 });

        const provisioned = await store.listDevices({ state: 'provisioned', limit: 100, offset: 0 });
        assert.deepEqual(provisioned.items, order(made.filter((d) => d.state === 'provisioned')));
        assert.equal(provisioned.total, 3);
        const byComponent = await store.listDevices({ componentId: other.id, systemId: b.system.id, limit: 100, offset: 0 });
        assert.deepEqual(byComponent.items, order(made.filter((d) => d.componentId === other.id)));
        assert.deepEqual((await store.listDevices({ systemId: 'sys-none' as SystemId, limit: 10, offset: 0 })).total, 0);

        const text = async (t: string) => (await store.listDevices({ text: t, limit: 100, offset: 0 })).items.map((d) => d.deviceId);
        assert.deepEqual(await text('DEV-7'), ['Dev-7'], 'deviceId, case-insensitive');
        assert.deepEqual(await text('kitchen'), ['Dev-3'], 'label');
        assert.deepEqual(await text('hwserial-xyz'), ['Dev-5'], 'hardware serial of the current request');
        assert.deepEqual(await text('ABCDEF12'), ['Dev-1'], 'certificate serial');
        assert.deepEqual(await text('%'), []);
      });
    });

    describe('pending requests of any kind', () => {
      /** A provisioned device (its provisioning request approved) that then makes a request of `kind`. */
      async function provisionedDevice(b: Awaited<ReturnType<typeof base>>, deviceId: string, updatedAt: number) {
        const { request, device } = await requestWithDevice(
          b,
          { deviceId: deviceId as DeviceIdText, state: 'approved', decidedAt: at(updatedAt) },
          { state: 'provisioned', updatedAt: at(updatedAt), provisionedAt: at(updatedAt) },
        );
        return { request, device };
      }
      const ids = async (filter: Partial<Parameters<Store['listDevices']>[0]> = {}) =>
        (await store.listDevices({ sort: 'pending-first', limit: 100, offset: 0, ...filter })).items.map((d) => d.deviceId);

      it('ok/pending/any-kind-first-filtered-and-kept-on-insert-approve-reject', async () => {
        const b = await base();
        // Oldest to newest change: a reprovisioning, a first provisioning, one never asking, one renewed.
        const reprovisioned = await provisionedDevice(b, 'DEV-reprovision', 1000);
        const asking = f.request(b.pkg, b.component.id, { deviceId: reprovisioned.device.deviceId, kind: 'reprovision', createdAt: at(5000), expiresAt: at(9_000_000) });
        await store.transaction((tx) => tx.insertRequest(asking));
        const fresh = await requestWithDevice(b, { deviceId: 'DEV-fresh' as DeviceIdText }, { updatedAt: at(2000) });
        await provisionedDevice(b, 'DEV-quiet', 3000);
        const renewed = await provisionedDevice(b, 'DEV-renewed', 4000);
        // A renewal is approved when made: nothing waits.
        await store.insertRequest(f.request(b.pkg, b.component.id, { deviceId: renewed.device.deviceId, kind: 'renewal', state: 'approved', createdAt: at(6000) }));

        const device = await store.findDevice(reprovisioned.device.deviceId);
        assert.equal(device?.state, 'provisioned', 'asking to be reprovisioned changes no state');
        assert.deepEqual(device?.pendingRequest, { id: asking.id, kind: 'reprovision', expiresAt: asking.expiresAt });
        assert.deepEqual((await store.findDevice(fresh.device.deviceId))?.pendingRequest, { id: fresh.request.id, kind: 'provision', expiresAt: fresh.request.expiresAt });
        assert.equal((await store.findDevice(renewed.device.deviceId))?.pendingRequest, null);

        assert.deepEqual(await ids(), ['DEV-fresh', 'DEV-reprovision', 'DEV-renewed', 'DEV-quiet'], 'pending of any kind first, then by last change');
        assert.deepEqual(await ids({ direction: 'asc' }), ['DEV-reprovision', 'DEV-fresh', 'DEV-quiet', 'DEV-renewed']);
        assert.deepEqual(await ids({ needsApproval: true }), ['DEV-fresh', 'DEV-reprovision']);
        assert.equal((await store.listDevices({ needsApproval: true, state: 'provisioned', limit: 10, offset: 0 })).total, 1);
        assert.deepEqual(await ids({ state: 'pending' }), ['DEV-fresh'], 'the state filter is still the device state');

        // Decided: the flag goes in the same transaction as the decision.
        assert.equal(await store.decideRequest(asking.id, { state: 'approved', at: at(7000), by: b.user.id, reason: null }), true);
        assert.equal((await store.findDevice(reprovisioned.device.deviceId))?.pendingRequest, null);
        await store.transaction(async (tx) => {
          assert.equal(await tx.decideRequest(fresh.request.id, { state: 'rejected', at: at(7000), by: b.user.id, reason: 'no' }), true);
        });
        assert.equal((await store.findDevice(fresh.device.deviceId))?.pendingRequest, null);
        assert.deepEqual(await ids({ needsApproval: true }), []);
        // A decision rolled back leaves the flag as it was.
        const again = f.request(b.pkg, b.component.id, { deviceId: reprovisioned.device.deviceId, kind: 'reprovision', createdAt: at(8000) });
        await store.insertRequest(again);
        await assert.rejects(store.transaction(async (tx) => {
          await tx.decideRequest(again.id, { state: 'approved', at: at(9000), by: b.user.id, reason: null });
          throw new Error('crash before commit');
        }), /crash before commit/);
        assert.deepEqual((await store.findDevice(reprovisioned.device.deviceId))?.pendingRequest, { id: again.id, kind: 'reprovision', expiresAt: again.expiresAt });
        assert.equal(await store.decideRequest(again.id, { state: 'approved', at: at(9000), by: b.user.id, reason: null }), true);
        assert.equal(await store.decideRequest(again.id, { state: 'rejected', at: at(9001), by: b.user.id, reason: 'late' }), false, 'decided once');
      });

      it('ok/pending/newest-of-several-then-the-next-and-expired-ones-stay', async () => {
        const b = await base();
        const { device } = await provisionedDevice(b, 'DEV-twice', 1000);
        // A device whose first reprovisioning run died makes a second request (docs/lifecycle.md).
        const first = f.request(b.pkg, b.component.id, { deviceId: device.deviceId, kind: 'reprovision', createdAt: at(2000), expiresAt: at(50_000) });
        const second = f.request(b.pkg, b.component.id, { deviceId: device.deviceId, kind: 'reprovision', createdAt: at(3000), expiresAt: at(60_000) });
        await store.insertRequest(second);
        await store.insertRequest(first);
        assert.equal((await store.findDevice(device.deviceId))?.pendingRequest?.id, second.id, 'the newest, whatever the insert order');
        await store.decideRequest(second.id, { state: 'rejected', at: at(4000), by: b.user.id, reason: 'twice' });
        assert.equal((await store.findDevice(device.deviceId))?.pendingRequest?.id, first.id, 'then the one still waiting');
        // Requests have no expired state: one past its expiry still waits for a decision (a
        // rejection; approval is refused with request_expired), so the device keeps it, and the
        // expiry comes with it for the page to say so.
        assert.ok(first.expiresAt < at(100_000));
        assert.deepEqual((await store.findDevice(device.deviceId))?.pendingRequest, { id: first.id, kind: 'reprovision', expiresAt: first.expiresAt });
        assert.deepEqual(await ids({ needsApproval: true }), ['DEV-twice']);
        await store.decideRequest(first.id, { state: 'rejected', at: at(200_000), by: b.user.id, reason: 'expired' });
        assert.equal((await store.findDevice(device.deviceId))?.pendingRequest, null);
      });

      it('ok/pending/concurrent-requests-and-decisions-leave-the-newest-still-pending', async () => {
        const b = await base();
        const { device } = await provisionedDevice(b, 'DEV-busy', 1000);
        const made = Array.from({ length: 12 }, (_, i) => f.request(b.pkg, b.component.id, { deviceId: device.deviceId, kind: 'reprovision', createdAt: at(2000 + i) }));
        // Each in its own transaction, at once (PostgreSQL: concurrent connections); every other
        // one is decided in the same transaction that inserts the next.
        await Promise.all(made.map((r, i) => store.transaction(async (tx) => {
          await tx.insertRequest(r);
          const previous = made[i - 1];
          if (i % 2 === 1 && previous) await tx.decideRequest(previous.id, { state: 'rejected', at: at(3000), by: b.user.id, reason: 'superseded' });
        })));
        // Which decisions found their request depends on the interleaving; the newest is never decided.
        const stillPending = await store.listRequests({ deviceId: device.deviceId, state: 'pending', limit: 1, offset: 0 });
        assert.equal(stillPending.items[0]?.id, made.at(-1)?.id);
        assert.equal((await store.findDevice(device.deviceId))?.pendingRequest?.id, made.at(-1)?.id);
      });

      it('ok/pending/insert-device-recomputes-what-it-is-given', async () => {
        const b = await base();
        const request = f.request(b.pkg, b.component.id, { state: 'approved' });
        // The caller claims a pending request the requests table does not have: not trusted.
        await store.transaction(async (tx) => {
          await tx.insertRequest(request);
          await tx.insertDevice(f.device(request, { state: 'approved', pendingRequest: { id: request.id, kind: 'provision', expiresAt: at(1) } }));
        });
        assert.equal((await store.findDevice(request.deviceId))?.pendingRequest, null);
      });
    });

    describe('device text search', () => {
      it('ok/search/substring-case-and-special-characters-alike-on-both-databases', async () => {
        const b = await base();
        const labels = ['100%_Main', 'O\'Brien\'s pump', 'back\\slash', 'say "hi"', 'Grüße Ärger', 'plain', 'under_score', 'aB'];
        for (const [i, label] of labels.entries()) {
          const { device, request } = await requestWithDevice(
            b,
            { deviceId: `Dev-${i}` as DeviceIdText, hardwareSerial: i === 5 ? 'SN-Zx9-0042' : null, publicKeyFingerprint: i === 6 ? 'ab'.repeat(32) : 'cd'.repeat(32) },
            { label },
          );
          if (i === 7) await store.insertCertificate(f.certificate({ deviceId: device.deviceId, requestId: request.id, serial: '7e0a1b2c3d' as SerialNumber, fingerprint: 'ef'.repeat(32) }));
        }
        const text = async (t: string) => (await store.listDevices({ text: t, sort: 'device-id', limit: 100, offset: 0 })).items.map((d) => d.deviceId);
        const count = async (t: string) => (await store.listDevices({ text: t, limit: 1, offset: 0 })).total;
        // Three characters and more: the trigram indexes.
        assert.deepEqual(await text('0%_'), ['Dev-0'], '% and _ are literal');
        assert.deepEqual(await text('%_m'), ['Dev-0']);
        assert.deepEqual(await text('o\'b'), ['Dev-1'], 'a quote is literal');
        assert.deepEqual(await text('n\'s'), ['Dev-1']);
        assert.deepEqual(await text('k\\s'), ['Dev-2'], 'a backslash is literal');
        assert.deepEqual(await text('"hi"'), ['Dev-3'], 'a double quote is literal');
        assert.deepEqual(await text('y "h'), ['Dev-3']);
        assert.deepEqual(await text('der_'), ['Dev-6']);
        assert.deepEqual(await text('der%'), []);
        assert.deepEqual(await text('DEV-'), ['Dev-0', 'Dev-1', 'Dev-2', 'Dev-3', 'Dev-4', 'Dev-5', 'Dev-6', 'Dev-7'], 'device id, any case');
        assert.equal(await count('dev-'), 8);
        assert.deepEqual(await text('PLAIN'), ['Dev-5'], 'label, any case');
        assert.deepEqual(await text('zx9-00'), ['Dev-5'], 'hardware serial of the current request');
        assert.deepEqual(await text('ABAB'), ['Dev-6'], 'key SHA-256, any case');
        assert.deepEqual(await text('A1B2C'), ['Dev-7'], 'certificate serial');
        assert.deepEqual(await text('efef'), ['Dev-7'], 'certificate SHA-256');
        assert.deepEqual(await text('Main plain'), [], 'one substring, not words');
        assert.deepEqual(await text('nothing like this'), []);
        // One or two characters: no trigram; the same answer from a scan.
        assert.deepEqual(await text('%'), ['Dev-0']);
        assert.deepEqual(await text('_'), ['Dev-0', 'Dev-6']);
        assert.deepEqual(await text('\''), ['Dev-1']);
        assert.deepEqual(await text('\\'), ['Dev-2']);
        assert.deepEqual(await text('"'), ['Dev-3']);
        assert.deepEqual(await text('Ab'), ['Dev-6', 'Dev-7'], 'two characters, any case: "ab" in the key of Dev-6 and the label "aB"');
        assert.deepEqual(await text('7'), ['Dev-7']);
        assert.deepEqual(await text('x'), ['Dev-5'], 'hardware serial SN-Zx9-0042');
        // Non-ASCII text (how non-ASCII letters fold depends on the database: docs/storage.md).
        assert.deepEqual(await text('grüße'), ['Dev-4']);
        assert.deepEqual(await text('GRÜSS'), []);
        // The search combines with the other filters and the pending-first order.
        assert.equal((await store.listDevices({ text: 'dev-', needsApproval: true, state: 'pending', limit: 3, offset: 3 })).items.length, 3);
      });

      it('ok/search/follows-the-current-request-and-every-certificate', async () => {
        const b = await base();
        const { request, device } = await requestWithDevice(b, { deviceId: 'DEV-moves' as DeviceIdText, hardwareSerial: 'OLD-SERIAL-1' }, { state: 'approved' });
        await store.insertCertificate(f.certificate({ deviceId: device.deviceId, requestId: request.id, serial: '0aaa111' as SerialNumber }));
        const text = async (t: string) => (await store.listDevices({ text: t, limit: 10, offset: 0 })).items.map((d) => d.deviceId);
        assert.deepEqual(await text('old-serial'), ['DEV-moves']);
        // A new current request (a reprovisioning installed): the old request's serial no longer matches.
        const next = f.request(b.pkg, b.component.id, { deviceId: device.deviceId, hardwareSerial: 'NEW-SERIAL-2', kind: 'reprovision', state: 'approved' });
        await store.transaction(async (tx) => {
          await tx.insertRequest(next);
          await tx.insertCertificate(f.certificate({ deviceId: device.deviceId, requestId: next.id, serial: '0bbb222' as SerialNumber }));
          assert.equal(await tx.transitionDevice(device.deviceId, ['approved'], 'provisioned', at(20), { currentRequestId: next.id }), true);
        });
        assert.deepEqual(await text('old-serial'), []);
        assert.deepEqual(await text('new-serial'), ['DEV-moves']);
        assert.deepEqual(await text('aaa111'), ['DEV-moves'], 'every certificate, the old one too');
        assert.deepEqual(await text('bbb222'), ['DEV-moves']);
        // Written in a transaction that is rolled back: nothing to find.
        await assert.rejects(store.transaction(async (tx) => {
          const r = f.request(b.pkg, b.component.id, { deviceId: 'DEV-ghost' as DeviceIdText });
          await tx.insertRequest(r);
          await tx.insertDevice(f.device(r));
          throw new Error('rolled back');
        }), /rolled back/);
        assert.deepEqual(await text('ghost'), []);
      });
    });

    describe('audit', () => {
      it('ok/append-assigns-seq-and-chain', async () => {
        assert.deepEqual(await store.readAuditHead(), { seq: 0, hash: GENESIS_HASH }, 'an empty log\'s head is genesis');
        const events = [f.event(), f.event({ actor: 'system', action: 'request.approve', details: {} }), f.event({ at: at(99_999) })];
        const entries: AuditEntry[] = [];
        for (const event of events) entries.push(await store.appendAudit(event));
        assert.deepEqual(entries.map((e) => e.seq), [1, 2, 3]);
        assert.equal(entries[0]?.prevHash, GENESIS_HASH);
        for (let i = 0; i < entries.length; i++) {
          const e = entries[i]!;
          if (i > 0) assert.equal(e.prevHash, entries[i - 1]?.hash);
          assert.equal(e.hash, hashAuditEntry(e.prevHash, e.seq, events[i]!));
          assert.match(e.hash, /^[0-9a-f]{64}$/);
        }
        assert.deepEqual(await store.readAudit(1, 10), entries, 'read back exactly');
        assert.deepEqual(await store.readAudit(2, 1), [entries[1]]);
        assert.deepEqual(await store.readAudit(4, 10), []);
        const inTx = await store.transaction((tx) => tx.appendAudit(f.event()));
        assert.equal(inTx.seq, 4);
        assert.deepEqual(await verifyStoreAudit(store), { ok: true, count: 4, lastSeq: 4, lastHash: inTx.hash, checkpoints: 0, newestCheckpointSeq: null });
        assert.deepEqual(await store.readAuditHead(), { seq: 4, hash: inTx.hash }, 'audit_head is the last entry');
      });

      it('fail/append-refuses-non-json-details', async () => {
        await assert.rejects(store.appendAudit(f.event({ details: { n: Number.NaN } })), TypeError);
        await assert.rejects(store.appendAudit(f.event({ details: { when: new Date() } })), TypeError);
        await assert.rejects(store.appendAudit(f.event({ details: { x: undefined } })), TypeError);
        assert.deepEqual(await store.readAudit(1, 10), []);
        assert.equal((await store.appendAudit(f.event())).seq, 1);
      });

      it('ok/fifty-concurrent-appends-make-one-chain', async () => {
        const entries = await Promise.all(
          Array.from({ length: 50 }, (_, i) => store.transaction((tx) => tx.appendAudit(f.event({ targetId: `t-${i}` })))),
        );
        assert.deepEqual(entries.map((e) => e.seq).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i + 1));
        const verified = await verifyStoreAudit(store);
        assert.deepEqual(verified, { ok: true, count: 50, lastSeq: 50, lastHash: entries.find((e) => e.seq === 50)?.hash, checkpoints: 0, newestCheckpointSeq: null });
      });

      it('ok/filters-order-paging', async () => {
        const plan = [
          { actor: 'user:alice', action: 'system.create', targetId: 'sys-1' },
          { actor: 'user:bob', action: 'request.approve', targetId: 'req-1' },
          { actor: 'user:alice', action: 'request.approve', targetId: 'req-2' },
          { actor: 'system', action: 'certificate.issue', targetId: 'req-1' },
          { actor: 'user:alice', action: 'request.reject', targetId: 'req-3' },
        ];
        for (const p of plan) await store.appendAudit(f.event(p));
        const seqs = async (filter: Partial<Parameters<Store['listAudit']>[0]>) => {
          const page = await store.listAudit({ limit: 100, offset: 0, ...filter });
          return { seqs: page.items.map((e) => e.seq), total: page.total };
        };
        assert.deepEqual(await seqs({}), { seqs: [5, 4, 3, 2, 1], total: 5 }, 'newest first');
        assert.deepEqual(await seqs({ actor: 'user:alice' }), { seqs: [5, 3, 1], total: 3 });
        assert.deepEqual(await seqs({ action: 'request.approve' }), { seqs: [3, 2], total: 2 });
        assert.deepEqual(await seqs({ targetId: 'req-1' }), { seqs: [4, 2], total: 2 });
        assert.deepEqual(await seqs({ actor: 'user:alice', action: 'request.approve' }), { seqs: [3], total: 1 });
        assert.deepEqual(await seqs({ fromSeq: 3 }), { seqs: [5, 4, 3], total: 3 });
        assert.deepEqual(await seqs({ limit: 2, offset: 1 }), { seqs: [4, 3], total: 5 });
        const [entry] = (await store.listAudit({ action: 'system.create', limit: 1, offset: 0 })).items;
        assert.deepEqual(entry, (await store.readAudit(1, 1))[0]);
      });

      it('ok/checkpoints', async () => {
        const first = await store.appendAudit(f.event());
        const second = await store.appendAudit(f.event());
        const cp2 = { seq: second.seq, hash: second.hash, at: at(20), signature: randomBytes(72), signerCertificate: ALL_BYTES };
        const cp1 = { seq: first.seq, hash: first.hash, at: at(10), signature: randomBytes(71), signerCertificate: ALL_BYTES };
        await store.insertCheckpoint(cp2);
        await store.transaction((tx) => tx.insertCheckpoint(cp1));
        assert.deepEqual(await store.listCheckpoints(), [cp1, cp2]);
        await rejectsConflict(store.insertCheckpoint(cp1), 'audit_checkpoints_pkey');
        await assert.rejects(store.insertCheckpoint({ ...cp1, seq: 3 }), /no such entry/);
        await assert.rejects(store.insertCheckpoint({ ...cp1, hash: second.hash }), /different hash/);
      });
    });

    describe('revocation and CRLs', () => {
      it('ok/revoke-certificate/compare-and-set-and-list-revoked', async () => {
        const issuer = 'b'.repeat(64);
        const [a, b, c] = [f.certificate({ issuerFingerprint: issuer }), f.certificate({ issuerFingerprint: issuer }), f.certificate()];
        for (const cert of [a, b, c]) await store.insertCertificate(cert);
        assert.deepEqual(await store.listRevokedCertificates(issuer), []);
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.transaction((tx) => tx.revokeCertificate(issuer, a.serial, { at: at(100 + i), reason: 'keyCompromise' }))),
        );
        assert.equal(results.filter(Boolean).length, 1, 'one of ten concurrent revocations wins');
        const winner = at(100 + results.indexOf(true));
        assert.equal(await store.revokeCertificate(issuer, b.serial, { at: at(200), reason: 'superseded' }), true);
        assert.equal(await store.revokeCertificate(issuer, b.serial, { at: at(300), reason: 'keyCompromise' }), false, 'a revoked certificate stays as first revoked');
        assert.equal(await store.revokeCertificate(issuer, c.serial, { at: at(200), reason: 'superseded' }), false, 'another issuer\'s serial is not this issuer\'s');
        const found = await store.findCertificate(issuer, a.serial);
        assert.equal(found?.status, 'revoked');
        assert.deepEqual(found?.revokedAt, winner);
        assert.equal(found?.revocationReason, 'keyCompromise');
        const listed = await store.listRevokedCertificates(issuer);
        assert.deepEqual(
          [...listed].sort((x, y) => x.serial.localeCompare(y.serial)),
          [{ serial: a.serial, revokedAt: winner, reason: 'keyCompromise' as const }, { serial: b.serial, revokedAt: at(200), reason: 'superseded' as const }]
            .sort((x, y) => x.serial.localeCompare(y.serial)),
        );
        assert.deepEqual(await store.listRevokedCertificates(c.issuerFingerprint), []);
      });

      it('ok/key-policy/certificates-by-public-key-and-blocked-keys-once', async () => {
        const hex = () => randomBytes(32).toString('hex');
        const key = hex();
        const [older, newer, other] = [
          f.certificate({ publicKeySha256: key, createdAt: at(10) }),
          f.certificate({ publicKeySha256: key, kind: 'gateway', createdAt: at(20), issuerFingerprint: 'd'.repeat(64) }),
          f.certificate({ publicKeySha256: hex() }),
        ];
        for (const cert of [older, newer, other]) await store.insertCertificate(cert);
        assert.deepEqual((await store.findCertificatesByPublicKey(key)).map((c) => c.serial), [newer.serial, older.serial], 'any kind and issuer, newest first');
        assert.deepEqual((await store.findCertificatesByPublicKey(key))[0], newer, 'round-trips with its key');
        assert.deepEqual(await store.findCertificatesByPublicKey(hex()), []);

        assert.equal(await store.findBlockedKey(key), null);
        const blocked = { publicKeySha256: key, blockedAt: at(30), issuerFingerprint: older.issuerFingerprint, serial: older.serial };
        const results = await Promise.all(Array.from({ length: 5 }, () => store.transaction((tx) => tx.blockKey(blocked))));
        assert.equal(results.filter(Boolean).length, 1, 'blocked once, by one of five concurrent revocations');
        assert.equal(await store.blockKey({ ...blocked, blockedAt: at(40), serial: newer.serial }), false);
        assert.deepEqual(await store.findBlockedKey(key), blocked, 'the first entry stays');
      });

      it('ok/crl-numbers-only-rise-and-concurrent-publishers-never-share-one', async () => {
        const issuer = 'c'.repeat(64);
        assert.equal(await store.findCrl(issuer), null);
        await assert.rejects(store.reserveCrlNumber(issuer), /inside a transaction/);
        const publish = (der: Buffer) => store.transaction(async (tx) => {
          const crlNumber = await tx.reserveCrlNumber(issuer);
          await tx.saveCrl({ issuerFingerprint: issuer, crlNumber, thisUpdate: at(crlNumber), nextUpdate: at(3_600_000 + crlNumber), der });
          return crlNumber;
        });
        assert.equal(await publish(ALL_BYTES), 1);
        const numbers = await Promise.all(Array.from({ length: 12 }, (_, i) => publish(Buffer.from([i]))));
        assert.deepEqual([...numbers].sort((x, y) => x - y), Array.from({ length: 12 }, (_, i) => i + 2), 'twelve concurrent publishers take twelve numbers');
        const newest = await store.findCrl(issuer);
        assert.equal(newest?.crlNumber, 13);
        assert.ok(newest?.der.equals(Buffer.from([numbers.indexOf(13)])), 'the stored CRL is the one with the highest number');
        assert.deepEqual(newest?.thisUpdate, at(13));
        // A CRL may only be saved under the number just reserved; a failed publish leaves nothing.
        await assert.rejects(store.transaction(async (tx) => {
          await tx.reserveCrlNumber(issuer);
          await tx.saveCrl({ issuerFingerprint: issuer, crlNumber: 3, thisUpdate: at(1), nextUpdate: at(2), der: ALL_BYTES });
        }), /not the number last reserved/);
        assert.equal((await store.findCrl(issuer))?.crlNumber, 13, 'the rolled-back reservation is not visible');
        assert.equal(await publish(ALL_BYTES), 14, 'a number rolled back with its transaction is reused by the next one (it was never published)');
        assert.equal(await store.findCrl('d'.repeat(64)), null, 'each issuer has its own sequence');
      });
    });

    describe('station and expiry health', () => {
      const DAY = 86_400_000;

      it('ok/record-check-in/last-seen-round-trips-and-leaves-state-alone', async () => {
        const b = await base();
        const { device } = await requestWithDevice(b, {}, { state: 'approved' });
        assert.equal((await store.findDevice(device.deviceId))?.lastSeen, null);
        const checkIn = { at: at(5000), serial: 'abc123' as SerialNumber, telemetry: { firmwareVersion: '2.1.0', uptimeSeconds: 42, status: 'ok' as const, message: 'Grüße' } };
        assert.deepEqual(await store.recordCheckIn(device.deviceId, checkIn), { reprovisionRequestedAt: null });
        const found = await store.findDevice(device.deviceId);
        assert.deepEqual(found?.lastSeen, checkIn);
        assert.equal(found?.state, 'approved');
        assert.deepEqual(found?.updatedAt, device.updatedAt, 'a heartbeat is not a change of the device');
        assert.deepEqual((await store.listDevices({ limit: 10, offset: 0 })).items[0]?.lastSeen, checkIn);
        assert.equal(await store.recordCheckIn('nobody' as DeviceIdText, checkIn), null);
      });

      it('ok/reprovision-ask/compare-and-set-and-the-check-in-answers-it', async () => {
        const b = await base();
        const { device } = await requestWithDevice(b, {}, { state: 'provisioned' });
        assert.equal((await store.findDevice(device.deviceId))?.reprovisionAsk, null);
        const ask = { at: at(7000), by: 'usr_1' as UserId, reason: 'INC-1: config changed — ünïcode' };
        assert.equal(await store.setReprovisionAsk(device.deviceId, at(1), ask), false, 'nothing outstanding: an expected ask does not match');
        assert.equal(await store.setReprovisionAsk(device.deviceId, null, ask), true);
        assert.equal(await store.setReprovisionAsk(device.deviceId, null, { ...ask, reason: 'second' }), false, 'one ask at a time');
        const found = await store.findDevice(device.deviceId);
        assert.deepEqual(found?.reprovisionAsk, ask);
        assert.deepEqual(found?.updatedAt, device.updatedAt, 'an ask is not a change of state');
        const checkIn = { at: at(8000), serial: 'abc124' as SerialNumber, telemetry: {} };
        assert.deepEqual(await store.recordCheckIn(device.deviceId, checkIn), { reprovisionRequestedAt: at(7000) });
        assert.equal(await store.setReprovisionAsk(device.deviceId, at(6999), null), false, 'another ask than the one expected stays');
        assert.equal(await store.setReprovisionAsk(device.deviceId, at(7000), null), true);
        assert.equal((await store.findDevice(device.deviceId))?.reprovisionAsk, null);
        assert.deepEqual(await store.recordCheckIn(device.deviceId, checkIn), { reprovisionRequestedAt: null });
        assert.equal(await store.setReprovisionAsk('nobody' as DeviceIdText, null, ask), false);
      });

      it('ok/expiring-certificates/window-kind-order-and-notices-once', async () => {
        const now = at(100 * DAY);
        const soon = f.certificate({ notBefore: at(0), notAfter: at(110 * DAY) });
        const sooner = f.certificate({ notBefore: at(0), notAfter: at(105 * DAY), kind: 'gateway' });
        const later = f.certificate({ notBefore: at(0), notAfter: at(200 * DAY) });
        const expired = f.certificate({ notBefore: at(0), notAfter: at(99 * DAY) });
        const revoked = f.certificate({ notBefore: at(0), notAfter: at(101 * DAY), status: 'revoked', revokedAt: at(50 * DAY), revocationReason: 'superseded' });
        for (const c of [soon, sooner, later, expired, revoked]) await store.insertCertificate(c);
        const window = { now, before: at(130 * DAY), limit: 10, offset: 0 };
        let page = await store.listExpiringCertificates(window);
        assert.deepEqual(page.items.map((c) => c.serial), [sooner.serial, soon.serial], 'active, unexpired, inside the window, soonest first');
        assert.equal(page.total, 2);
        page = await store.listExpiringCertificates({ ...window, kind: 'device' });
        assert.deepEqual(page.items.map((c) => c.serial), [soon.serial]);
        page = await store.listExpiringCertificates({ ...window, limit: 1, offset: 1 });
        assert.deepEqual(page.items.map((c) => c.serial), [soon.serial]);
        assert.equal(page.total, 2);

        const results = await Promise.all(Array.from({ length: 5 }, () => store.transaction((tx) => tx.insertCertificateNotice(soon.issuerFingerprint, soon.serial, 'expiring', now))));
        assert.equal(results.filter(Boolean).length, 1, 'one of five concurrent notices is recorded');
        assert.equal(await store.insertCertificateNotice(soon.issuerFingerprint, soon.serial, 'other-kind', now), true, 'each kind once');
        page = await store.listExpiringCertificates({ ...window, withoutNotice: 'expiring' });
        assert.deepEqual(page.items.map((c) => c.serial), [sooner.serial]);
      });

      it('ok/renewal-overdue/current-device-certificates-past-two-thirds', async () => {
        const b = await base();
        const now = at(70 * DAY);
        const mk = async (state: DeviceRecord['state'], notBefore: Date, notAfter: Date, o: Partial<CertificateRecord> = {}) => {
          const { request, device } = await requestWithDevice(b, {}, { state });
          const cert = f.certificate({ deviceId: device.deviceId, requestId: request.id, notBefore, notAfter, ...o });
          await store.insertCertificate(cert);
          return cert;
        };
        // 100-day certificates: two thirds is day 66.67 after notBefore.
        const overdue = await mk('provisioned', at(0), at(100 * DAY));
        const overdueApproved = await mk('approved', at(1 * DAY), at(101 * DAY));
        await mk('provisioned', at(10 * DAY), at(110 * DAY)); // due on day 76.7: not yet
        await mk('revoked', at(0), at(100 * DAY)); // a revoked device is not asked to renew
        await mk('provisioned', at(0), at(100 * DAY), { status: 'revoked', revokedAt: at(5), revocationReason: 'superseded' });
        await mk('provisioned', at(0), at(60 * DAY)); // already expired
        const page = await store.listRenewalOverdueCertificates({ now, limit: 10, offset: 0 });
        assert.deepEqual(page.items.map((c) => c.serial), [overdue.serial, overdueApproved.serial]);
        assert.equal(page.total, 2);
        // Exactly at two thirds it is due (3 * now == notBefore + 2 * notAfter).
        const exact = await store.listRenewalOverdueCertificates({ now: new Date((at(0).getTime() + 2 * at(100 * DAY).getTime()) / 3), limit: 10, offset: 0 });
        assert.deepEqual(exact.items.map((c) => c.serial), [overdue.serial]);
      });
    });

    it('ok/check-integrity', async () => {
      const b = await base();
      await requestWithDevice(b);
      await store.appendAudit(f.event());
      assert.equal(await store.checkIntegrity(), true);
    });
  });
}
