/**
 * A device checks in at the central station (docs/station.md): the TLS layer already required a
 * client certificate chaining to the root; here the chain is validated again for the purpose
 * (clientAuth) and the device profile, its revocation status is asked of OCSP or the CRL (never of
 * the store: the station is a relying party like any other), and last-seen is recorded. The
 * answer carries what the service asks of the device: an outstanding reprovisioning.
 */
import { type Clock, OID, type ParsedCertificate, type RevocationReason, type SerialNumber, parseCertificate, parseDeviceId, verifyChain } from '@provisio/pki';
import { ServiceError } from './errors.js';
import type { DeviceIdText, Telemetry } from './model.js';
import type { Store } from './store.js';

export interface RevocationVerdict {
  readonly status: 'good' | 'revoked' | 'unknown';
  /** Which source answered. */
  readonly source: 'ocsp' | 'crl';
  /** When the source was asked (the station clock): the answer is reused until the cut-off. */
  readonly checkedAt: Date;
  readonly revokedAt?: Date;
  readonly reason?: RevocationReason;
}

/** Answers a certificate's revocation status; throws revocation_status_unavailable (fail closed). */
export interface RevocationStatusSource {
  check(serial: SerialNumber): Promise<RevocationVerdict>;
}

export interface CheckInDeps {
  readonly clock: Clock;
  readonly trust: { readonly root: ParsedCertificate; readonly issuer: ParsedCertificate };
  readonly revocation: RevocationStatusSource;
  readonly store: Pick<Store, 'recordCheckIn'>;
}

export interface CheckInResult {
  readonly deviceId: DeviceIdText;
  readonly serial: SerialNumber;
  readonly lastSeen: Date;
  readonly revocationSource: 'ocsp' | 'crl';
  /** An admin asked for this device to be reprovisioned at this time (null: nothing asked). */
  readonly reprovisionRequestedAt: Date | null;
}

/**
 * The device certificate profile (docs/device-certificate-profile.md): an end entity for client
 * authentication only (a gateway certificate also has serverAuth), CN a device id, OU its
 * system (before D34: "<system>/<component>"). Returns the device id.
 */
function deviceIdOf(leaf: ParsedCertificate): DeviceIdText {
  const eku = leaf.decoded.extKeyUsage ?? [];
  const cn = leaf.subject.attributes.find((a) => a.type === 'CN')?.value;
  const ou = leaf.subject.attributes.find((a) => a.type === 'OU')?.value;
  if (leaf.decoded.basicConstraints?.ca || eku.includes(OID.kpServerAuth) || !cn || !ou) {
    throw new ServiceError('client_certificate_unknown', `certificate ${leaf.serial} is not a device certificate; check in with the device's own certificate`);
  }
  try {
    return parseDeviceId(cn) as string as DeviceIdText;
  } catch {
    throw new ServiceError('client_certificate_unknown', `certificate ${leaf.serial} does not name a device id`);
  }
}

export async function checkIn(deps: CheckInDeps, presented: readonly Buffer[], telemetry: Telemetry): Promise<CheckInResult> {
  const [leafDer] = presented;
  if (!leafDer || leafDer.length === 0) {
    throw new ServiceError('client_certificate_required', 'check in over mutual TLS with the device certificate');
  }
  const leaf = parseCertificate(leafDer);
  const now = deps.clock.now();
  // Only the issuing CA the station was given may sit between the leaf and the root.
  verifyChain({ leaf, intermediates: [deps.trust.issuer], roots: [deps.trust.root], at: now, requiredExtKeyUsage: OID.kpClientAuth });
  const deviceId = deviceIdOf(leaf);
  const verdict = await deps.revocation.check(leaf.serial);
  if (verdict.status === 'revoked') {
    throw new ServiceError(
      'device_certificate_revoked',
      `certificate ${leaf.serial} of device "${deviceId}" was revoked${verdict.revokedAt ? ` at ${verdict.revokedAt.toISOString()}` : ''} (${verdict.reason ?? 'unspecified'}); the device must be provisioned again`,
    );
  }
  if (verdict.status !== 'good') {
    throw new ServiceError('client_certificate_unknown', `the issuing CA does not know certificate ${leaf.serial} (${verdict.source} answered unknown)`);
  }
  const recorded = await deps.store.recordCheckIn(deviceId, { at: now, serial: leaf.serial, telemetry });
  if (!recorded) throw new ServiceError('client_certificate_unknown', `no device has id "${deviceId}"`);
  return { deviceId, serial: leaf.serial, lastSeen: now, revocationSource: verdict.source, reprovisionRequestedAt: recorded.reprovisionRequestedAt };
}
