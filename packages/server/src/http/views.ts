import { encodePem } from '@provisio/pki';
/** JSON renderings of domain records for the API: no raw bytes, no secrets, names not ids. */
import type { ComponentRecord, DeviceRecord, UserId, GatewayId, GatewayRecord, PackageRecord, RequestRecord, SystemRecord, User, CertificateRecord, AuditEntry } from '../domain/model.js';
import { renewalDueAt } from '../domain/expiry.js';
import type { Store } from '../domain/store.js';

/** Resolves system and component ids to names, caching per API call. */
export function createNames(store: Pick<Store, 'findSystemById' | 'findComponentById' | 'findGatewayById' | 'findUserById'>) {
  const users = new Map<string, Promise<User | null>>();
  const systems = new Map<string, Promise<SystemRecord | null>>();
  const components = new Map<string, Promise<ComponentRecord | null>>();
  const gateways = new Map<string, Promise<GatewayRecord | null>>();
  return {
    user: async (id: UserId) => {
      if (!users.has(id)) users.set(id, store.findUserById(id));
      return (await users.get(id))?.username ?? null;
    },
    gateway: async (id: GatewayId | null | undefined) => {
      if (!id) return null;
      if (!gateways.has(id)) gateways.set(id, store.findGatewayById(id));
      return (await gateways.get(id))?.name ?? null;
    },
    system: async (id: string) => {
      if (!systems.has(id)) systems.set(id, store.findSystemById(id as SystemRecord['id']));
      return (await systems.get(id))?.name ?? null;
    },
    component: async (id: string) => {
      if (!components.has(id)) components.set(id, store.findComponentById(id as ComponentRecord['id']));
      return (await components.get(id))?.name ?? null;
    },
  };
}
export type Names = ReturnType<typeof createNames>;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export async function requestView(r: RequestRecord, names: Names) {
  return {
    id: r.id,
    state: r.state,
    deviceId: r.deviceId,
    deviceLabel: r.deviceLabel,
    system: await names.system(r.systemId),
    component: await names.component(r.componentId),
    packageId: r.packageId,
    hardwareSerial: r.hardwareSerial,
    firmwareVersion: r.firmwareVersion,
    keyAlgorithm: r.keyAlgorithm,
    publicKeySha256: r.publicKeyFingerprint,
    contentSha256: r.contentHash,
    transport: r.transport,
    // 'renewal' or 'reprovision' (docs/lifecycle.md); absent for a provisioning request.
    ...(r.kind ? { kind: r.kind } : {}),
    // How a first request authenticated without a package: {kind: 'token' | 'pairing-code', id}.
    ...(r.enrollment ? { enrollment: r.enrollment } : {}),
    // The standard protocol it came by ('est', 'cmp', 'scep'; docs/protocols.md); absent otherwise.
    ...(r.protocol ? { protocol: r.protocol } : {}),
    /** The proxy gateway that carried the request (transport 'proxy'), else null. */
    gateway: await names.gateway(r.gatewayId),
    mock: r.mock,
    createdAt: iso(r.createdAt),
    expiresAt: iso(r.expiresAt),
    /** Who uploaded it (username); null when a device or gateway sent it. Separation of duties (D28) refuses them as its approver. */
    submittedBy: r.submittedBy ? ((await names.user(r.submittedBy)) ?? r.submittedBy) : null,
    decidedAt: iso(r.decidedAt),
    /** Who approved or rejected it (username); null while pending or when a policy decided. */
    decidedBy: r.decidedBy ? ((await names.user(r.decidedBy)) ?? r.decidedBy) : null,
    decisionReason: r.decisionReason,
    policyDecision: r.policy?.decision ?? null,
    policyRule: r.policy?.rule ?? null,
    policyReason: r.policy?.reason ?? null,
  };
}

export async function deviceView(d: DeviceRecord, names: Names) {
  return {
    deviceId: d.deviceId,
    label: d.label,
    state: d.state,
    system: await names.system(d.systemId),
    component: await names.component(d.componentId),
    mock: d.mock,
    requestId: d.currentRequestId,
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    provisionedAt: iso(d.provisionedAt),
    /** The last check-in at the central station (docs/station.md), null: never seen. */
    lastSeenAt: iso(d.lastSeen?.at ?? null),
    lastSeenSerial: d.lastSeen?.serial ?? null,
    telemetry: d.lastSeen?.telemetry ?? null,
    /** An outstanding reprovisioning asked for by an admin (docs/lifecycle.md), null: none. */
    reprovisionRequest: d.reprovisionAsk
      ? { requestedAt: iso(d.reprovisionAsk.at), requestedBy: (await names.user(d.reprovisionAsk.by)) ?? d.reprovisionAsk.by, reason: d.reprovisionAsk.reason }
      : null,
    /** The request waiting for a decision, of any kind ('provision', 'renewal', 'reprovision'); null: none. */
    pendingRequest: d.pendingRequest ? { id: d.pendingRequest.id, kind: d.pendingRequest.kind, expiresAt: iso(d.pendingRequest.expiresAt) } : null,
  };
}

export function certificateView(c: CertificateRecord) {
  return {
    serial: c.serial,
    sha256: c.fingerprint,
    kind: c.kind,
    status: c.status,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    revokedAt: iso(c.revokedAt),
    revocationReason: c.revocationReason,
    pem: encodePem('CERTIFICATE', c.der),
  };
}

/** A certificate in the expiry health lists: whose it is, when it expires, when renewal was due. */
export function expiryView(c: CertificateRecord) {
  return {
    serial: c.serial,
    sha256: c.fingerprint,
    kind: c.kind,
    deviceId: c.deviceId,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    renewalDueAt: iso(renewalDueAt(c)),
  };
}

export function systemView(s: SystemRecord, components: readonly ComponentRecord[] = []) {
  return {
    name: s.name,
    allowMock: s.allowMock,
    separationOfDuties: s.separationOfDuties,
    enrollmentSecretApproves: s.enrollmentSecretApproves,
    centralKeyGeneration: s.centralKeyGeneration,
    createdAt: iso(s.createdAt),
    components: components.map(componentView),
  };
}

export function componentView(c: ComponentRecord) {
  return { name: c.name, keyTypes: c.keyTypes, validityDays: c.validityDays, renewalGraceDays: c.renewalGraceDays, createdAt: iso(c.createdAt) };
}

export async function packageView(p: PackageRecord, names: Names) {
  return {
    id: p.id,
    system: await names.system(p.systemId),
    status: p.status,
    bootstrapSha256: p.bootstrapFingerprint,
    requestLifetimeSeconds: p.requestLifetimeSeconds,
    createdAt: iso(p.createdAt),
    expiresAt: iso(p.expiresAt),
    revokedAt: iso(p.revokedAt),
  };
}

export function userView(u: User) {
  return { username: u.username, role: u.role, createdAt: iso(u.createdAt), disabled: u.disabledAt !== null };
}

export function auditView(e: AuditEntry) {
  return { seq: e.seq, at: iso(e.at), actor: e.actor, action: e.action, targetType: e.targetType, targetId: e.targetId, details: e.details, hash: e.hash, prevHash: e.prevHash };
}

export function gatewayView(g: GatewayRecord) {
  return {
    name: g.name,
    hosts: g.hosts,
    certificateSerial: g.certificateSerial,
    certificateSha256: g.certificateFingerprint,
    status: g.revokedAt ? 'revoked' : 'active',
    createdAt: iso(g.createdAt),
    revokedAt: iso(g.revokedAt),
  };
}
