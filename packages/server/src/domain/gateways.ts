/**
 * Proxy gateways (docs/proxy.md): an administrator registers a gateway with its CSR and the hosts
 * devices reach it by; the issuing CA certifies its key with the 'gateway' profile. The gateway
 * then carries devices' requests, profiles and install confirmations in batches, authenticated by
 * that certificate over mutual TLS. It is a courier: requests stay signed by the device and its
 * package, profiles by the service, confirmations by the device key, so a gateway can delay or
 * drop but never forge or alter what it carries.
 */
import {
  type CertificateRequest,
  OID,
  type ParsedCertificate,
  checkRequestedSubjectAltNames,
  gatewayHostName,
  isProvisioError,
  keyTypeOf,
  describePublicKey,
  parseAndVerifyCsr,
  parseCertificate,
  verifyChain,
} from '@provisio/pki';
import { type Actor, type ServiceDeps, actorName, newId } from './deps.js';
import { authenticateDeviceCertificate, confirmInstall, verifyInstallProof } from './devices.js';
import { ServiceError } from './errors.js';
import type { GatewayId, GatewayRecord, RequestId, RequestState } from './model.js';
import { submitRequest } from './requests.js';
import { publishCrl } from './crl.js';
import { parseEndEntityReason, revokeCertificatesInTx } from './revocation.js';
import { StoreConflict } from './store.js';
import { issueCertificate } from '../issuance/issue-certificate.js';
import { gatewayMethod } from '../issuance/methods/gateway.js';
/** Items in one batch: enough to drain a queue quickly, small enough for one request body. */
export const MAX_BATCH = 100;

export interface CreatedGateway {
  readonly gateway: GatewayRecord;
  readonly certificate: Buffer;
  /** DER: the issuing CA, then the root. */
  readonly intermediate: Buffer;
  readonly root: Buffer;
}

export async function createGateway(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority'>,
  actor: Actor,
  input: { readonly name: string; readonly csrPem: string; readonly hosts: readonly string[] },
): Promise<CreatedGateway> {
  const csr = parseAndVerifyCsr(input.csrPem);
  if (!keyTypeOf(csr.publicKey)) {
    throw new ServiceError('key_type_not_allowed', `a gateway key must be P-256, P-384 or RSA 3072; the CSR carries ${describePublicKey(csr.publicKey)}`);
  }
  if (await deps.store.findGatewayByName(input.name)) throw new ServiceError('gateway_exists', `a gateway named "${input.name}" already exists`);
  const now = deps.clock.now();
  const { authority } = deps;
  // Names come from the administrator's request; the CSR contributes only its key, and asks for
  // no name the certificate would not carry.
  checkRequestedSubjectAltNames(csr, input.hosts.map(gatewayHostName));
  const id = newId(deps.random, 'gw') as GatewayId;
  let gateway: GatewayRecord;
  let issued: Buffer;
  try {
    // Recorded before anyone sees it (security.md I1), with its audit entry (I5).
    ({ gateway, issued } = await deps.store.transaction(async (tx) => {
      const issuance = await issueCertificate(tx, deps, {
        method: gatewayMethod,
        operation: 'sign',
        now,
        input: {
          name: input.name,
          hosts: input.hosts,
          publicKey: csr.publicKey,
          audit: (certificate, request) => ({
            at: now,
            actor: actorName(actor),
            action: 'gateway.create',
            targetType: 'gateway',
            targetId: input.name,
            details: { hosts: hostsOf(request), serial: certificate.serial, certificateSha256: certificate.fingerprint, notAfter: certificate.notAfter.toISOString() },
          }),
        },
      });
      const record: GatewayRecord = {
        id,
        name: input.name,
        hosts: hostsOf(issuance.request),
        certificateSerial: issuance.certificate.serial,
        certificateFingerprint: issuance.certificate.fingerprint,
        createdAt: now,
        createdBy: actor.userId,
        revokedAt: null,
      };
      await tx.insertGateway(record);
      return { gateway: record, issued: issuance.issued.der };
    }));
  } catch (e) {
    if (e instanceof StoreConflict && e.constraint === 'gateways_name_key') throw new ServiceError('gateway_exists', `a gateway named "${input.name}" already exists`);
    throw e;
  }
  return { gateway, certificate: issued, intermediate: authority.intermediate.der, root: authority.root.der };
}

/** The hosts a gateway certificate names (normalized by its template), as the gateway record keeps them. */
function hostsOf(request: CertificateRequest): string[] {
  return (request.subjectAltName ?? []).map((n) => String(n.value));
}

export async function requireGateway(deps: Pick<ServiceDeps, 'store'>, name: string): Promise<GatewayRecord> {
  const gateway = await deps.store.findGatewayByName(name);
  if (!gateway) throw new ServiceError('gateway_not_found', `no gateway is named "${name}"; list them with "provisio gateway list"`);
  return gateway;
}

/**
 * From now on the gateway's certificate opens no gateway route, and the certificate itself is
 * revoked (RFC 5280 reason from the caller, default cessationOfOperation) with a new CRL in the
 * same transaction, so relying parties other than this service (OCSP, CRL) learn it too; what it
 * carried stays recorded. Idempotent: a revoked gateway stays as it is.
 */
export async function revokeGateway(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority' | 'revocation'>,
  actor: Actor,
  name: string,
  reasonText = 'cessationOfOperation',
): Promise<GatewayRecord> {
  const reason = parseEndEntityReason(reasonText);
  const gateway = await requireGateway(deps, name);
  if (gateway.revokedAt) return gateway;
  const now = deps.clock.now();
  const revoked = await deps.store.transaction(async (tx) => {
    if (!(await tx.revokeGateway(gateway.id, now))) return [];
    const record = await tx.findCertificate(deps.authority.issuerFingerprint, gateway.certificateSerial);
    const active = record && record.status === 'active' && record.fingerprint === gateway.certificateFingerprint ? [record] : [];
    const certificates = await revokeCertificatesInTx(tx, active, { at: now, reason, actor: actorName(actor) });
    const crl = certificates.length > 0 ? await publishCrl(tx, deps) : null;
    await tx.appendAudit({
      at: now,
      actor: actorName(actor),
      action: 'gateway.revoke',
      targetType: 'gateway',
      targetId: gateway.name,
      details: { serial: gateway.certificateSerial, reason, certificateRevoked: certificates.length > 0, crlNumber: crl?.crlNumber ?? null },
    });
    return certificates;
  });
  deps.revocation.revoked(revoked.map((c) => c.serial));
  return requireGateway(deps, name);
}

/**
 * The gateway behind a mutual-TLS connection: the client certificate must chain to our root
 * through our issuing CA, be valid now for TLS client authentication, carry the gateway's
 * serverAuth purpose too (a device certificate has clientAuth only), and be the certificate of a
 * registered gateway that is not revoked.
 */
export async function authenticateGateway(deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority'>, presented: readonly Buffer[]): Promise<GatewayRecord> {
  const [leafDer] = presented;
  if (!leafDer || leafDer.length === 0) {
    throw new ServiceError('client_certificate_required', 'the gateway routes need the gateway certificate as a TLS client certificate (mutual TLS)');
  }
  const leaf: ParsedCertificate = parseCertificate(leafDer);
  verifyChain({ leaf, intermediates: [deps.authority.intermediate], roots: [deps.authority.root], at: deps.clock.now(), requiredExtKeyUsage: OID.kpClientAuth });
  const gateway = leaf.decoded.extKeyUsage?.includes(OID.kpServerAuth) ? await deps.store.findGatewayByFingerprint(leaf.fingerprint) : null;
  if (!gateway) throw new ServiceError('gateway_unknown', `certificate ${leaf.serial} is not the certificate of a registered gateway`);
  if (gateway.revokedAt) throw new ServiceError('gateway_revoked', `gateway "${gateway.name}" was revoked at ${gateway.revokedAt.toISOString()}; ask an administrator to create a new one`);
  return gateway;
}

export type ItemError = { readonly code: string; readonly category: string; readonly message: string };

/** A refusal of one item (a stable code); anything else fails the whole batch as before. */
function itemError(e: unknown): { error: ItemError } {
  if (!isProvisioError(e) || e.category === 'internal') throw e;
  return { error: { code: e.code, category: e.category, message: e.message } };
}

function decodeBase64(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length === 0 || bytes.toString('base64') !== text) throw new ServiceError('validation_failed', `${what} must be canonical base64`);
  return bytes;
}

export type SubmitItemResult = { readonly id: RequestId; readonly state: RequestState; readonly created: boolean } | { readonly error: ItemError };

/**
 * A batch of request files, each exactly as the device made it (base64). Each goes through the
 * same intake as a direct submission, with transport 'proxy' and this gateway recorded; a
 * refused item stores nothing and does not affect the others.
 */
export async function submitThroughGateway(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'random' | 'authority' | 'urls'>,
  gateway: GatewayRecord,
  items: readonly string[],
): Promise<SubmitItemResult[]> {
  const results: SubmitItemResult[] = [];
  // One at a time: the intake's checks (nonce, device id) are simplest to reason about in order.
  for (const [i, item] of items.entries()) {
    try {
      const raw = decodeBase64(item, `request ${i + 1}`);
      const { request, created } = await submitRequest(deps, null, { raw, transport: 'proxy', gateway });
      results.push({ id: request.id, state: request.state, created });
    } catch (e) {
      results.push(itemError(e));
    }
  }
  return results;
}

export type ProfileItemResult =
  | { readonly id: string; readonly state: 'pending' }
  | { readonly id: string; readonly state: 'approved'; readonly profile: string }
  | { readonly id: string; readonly error: ItemError };

/** The state of requests this gateway carried, with the certified profile (exact bytes, base64) once approved. */
export async function profilesForGateway(deps: Pick<ServiceDeps, 'store'>, gateway: GatewayRecord, ids: readonly string[]): Promise<ProfileItemResult[]> {
  const results: ProfileItemResult[] = [];
  for (const id of ids) {
    try {
      const request = await deps.store.findRequest(id as RequestId);
      if (!request || request.gatewayId !== gateway.id) throw new ServiceError('request_not_found', `gateway "${gateway.name}" carried no request "${id}"`);
      if (request.state === 'pending') {
        results.push({ id, state: 'pending' });
      } else if (request.state === 'rejected') {
        throw new ServiceError('request_rejected', `request ${id} was rejected: ${request.decisionReason ?? 'no reason given'}`);
      } else {
        const profile = await deps.store.findProfile(request.id);
        if (!profile) throw new ServiceError('profile_not_found', `request ${id} has no certified profile`);
        results.push({ id, state: 'approved', profile: profile.content.toString('base64') });
      }
    } catch (e) {
      results.push({ id, ...itemError(e) });
    }
  }
  return results;
}

/**
 * A device's install confirmation carried by the gateway: the device certificate chain (base64
 * DER, leaf first) and the proof signed with the device key. The gateway holds neither the key
 * nor a way to make the proof, so it cannot mark a device Provisioned on its own.
 */
export async function confirmThroughGateway(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority'>,
  gateway: GatewayRecord,
  input: { readonly certificateChain: readonly string[]; readonly proof: string },
) {
  const chain = input.certificateChain.map((c, i) => decodeBase64(c, `certificate ${i + 1}`));
  const { deviceId, serial } = await authenticateDeviceCertificate(deps, chain);
  verifyInstallProof(deps, chain[0] as Buffer, { deviceId, serial }, input.proof);
  return confirmInstall(deps, deviceId, serial, { transport: 'proxy', gateway: gateway.name });
}
