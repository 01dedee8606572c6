/**
 * What an approver looks at before approving (docs/web.md "Devices"): the request's signatures
 * verified again over the bytes that arrived, its age and expiry, the package it came with, the
 * component's certificate template and the approval policy's verdict. Reads only.
 */
import { isProvisioError, OID, parseCertificate, parseCsr, type SerialNumber, verifyChain, verifyCsr } from '@provisio/pki';
import { parseProvisioningRequest, parseRenewalRequest, RENEWAL_AUDIENCE, REPROVISION_AUDIENCE, verifyProvisioningRequest, verifyRenewalRequest } from '@provisio/protocol';
import type { ServiceDeps } from './deps.js';
import { ServiceError } from './errors.js';
import type { ComponentRecord, PackageRecord, RequestId, RequestRecord } from './model.js';
import { verifyProtocolRequest } from './protocol-renewal.js';
import { requireRequest } from './requests.js';

export interface RequestReview {
  readonly request: RequestRecord;
  /**
   * The device and bootstrap signatures, the CSR's proof of possession and the bootstrap chain,
   * checked now against the stored bytes as of the request's creation time: 'verified', or the
   * error code that refused them (a stored request passed at intake, so anything else means the
   * stored copy or the trust anchors changed).
   */
  readonly signatures: { readonly status: 'verified' } | { readonly status: 'failed'; readonly code: string; readonly message: string };
  /**
   * A renewal or reprovisioning request: the serial of the device certificate it was signed with
   * (the one the device presented over mutual TLS); null for a provisioning request.
   */
  readonly signedWithCertificate: SerialNumber | null;
  readonly ageSeconds: number;
  readonly isExpired: boolean;
  readonly package: PackageRecord | null;
  readonly component: ComponentRecord | null;
}

export async function reviewRequest(deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority'>, id: RequestId): Promise<RequestReview> {
  const request = await requireRequest(deps, id);
  const now = deps.clock.now();
  let signatures: RequestReview['signatures'] = { status: 'verified' };
  let signedWithCertificate: SerialNumber | null = null;
  try {
    if (request.protocol) {
      // Authenticated by the current certificate over mutual TLS or a CMP signature, which the
      // request does not keep: what can be checked again is its proof of possession.
      verifyProtocolRequest(request);
    } else if (request.enrollment) {
      // A token's or pairing code's request: its raw bytes are the CSR, whose proof of
      // possession is checked again; the secret was checked (and spent) at intake.
      verifyCsr(parseCsr(request.raw));
    } else if (request.kind === undefined) {
      const pr = parseProvisioningRequest(request.raw);
      verifyProvisioningRequest(pr, { at: pr.createdAt, roots: [deps.authority.root], intermediates: [deps.authority.intermediate] });
    } else {
      signedWithCertificate = await verifyFollowUpRequest(deps, request);
    }
  } catch (e) {
    if (!isProvisioError(e)) throw e;
    signatures = { status: 'failed', code: e.code, message: e.message };
  }
  return {
    request,
    signatures,
    signedWithCertificate,
    ageSeconds: Math.max(0, Math.round((now.getTime() - request.createdAt.getTime()) / 1000)),
    isExpired: now.getTime() >= request.expiresAt.getTime(),
    package: request.packageId === null ? null : await deps.store.findPackage(request.packageId),
    component: await deps.store.findComponentById(request.componentId),
  };
}

/**
 * A renewal or reprovisioning request (a JWS, docs/lifecycle.md) checked as at its arrival: the
 * certificate it names is this device's, issued by this CA and chaining to the root for client
 * authentication; the JWS is signed by that certificate's key with this request's audience; the
 * CSR proves possession of the key to certify. Returns that certificate's serial.
 */
async function verifyFollowUpRequest(deps: Pick<ServiceDeps, 'store' | 'authority'>, request: RequestRecord): Promise<SerialNumber> {
  const parsed = parseRenewalRequest(request.raw.toString('utf8'));
  const record = await deps.store.findCertificate(deps.authority.issuerFingerprint, parsed.serial as SerialNumber);
  if (!record || record.kind !== 'device' || record.deviceId !== request.deviceId) {
    throw new ServiceError('client_certificate_unknown', `the request names certificate ${parsed.serial}, which is not a certificate of device "${request.deviceId}"`);
  }
  const leaf = parseCertificate(record.der);
  // As at arrival; an expired certificate (a renewal within the grace period) at its own notAfter.
  const at = request.createdAt < leaf.notAfter ? request.createdAt : leaf.notAfter;
  verifyChain({ leaf, intermediates: [deps.authority.intermediate], roots: [deps.authority.root], at, requiredExtKeyUsage: OID.kpClientAuth });
  verifyRenewalRequest(parsed, leaf.publicKey, {
    deviceId: request.deviceId,
    serial: record.serial,
    at: request.createdAt,
    aud: request.kind === 'reprovision' ? REPROVISION_AUDIENCE : RENEWAL_AUDIENCE,
  });
  return record.serial;
}
