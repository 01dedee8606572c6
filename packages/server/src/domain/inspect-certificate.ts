/**
 * One of a device's certificates with its chain, decoded for the device page (like `provisio
 * inspect` or `step certificate inspect`): the chain is verified again to the root now, so an
 * expired or foreign certificate shows why. Reads only.
 */
import { isProvisioError, type ParsedCertificate, parseCertificate, verifyChain } from '@provisio/pki';
import type { ServiceDeps } from './deps.js';
import { getDevice } from './devices.js';
import { ServiceError } from './errors.js';
import type { CertificateRecord, DeviceIdText } from './model.js';

export interface InspectedCertificate {
  readonly record: CertificateRecord;
  /** The certificate, then its issuing CA and the root when they are this service's. */
  readonly chain: readonly ParsedCertificate[];
  readonly verification: { readonly status: 'verified' } | { readonly status: 'failed'; readonly code: string; readonly message: string };
}

export async function inspectDeviceCertificate(
  deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority'>,
  deviceId: DeviceIdText,
  serial: string,
): Promise<InspectedCertificate> {
  const { certificates } = await getDevice(deps, deviceId);
  const record = certificates.find((c) => c.serial === serial.toLowerCase());
  if (!record) throw new ServiceError('certificate_not_found', `device ${deviceId} has no certificate with serial ${serial.slice(0, 64)}`);
  const leaf = parseCertificate(record.der);
  const isOurs = record.issuerFingerprint === deps.authority.issuerFingerprint;
  const chain = isOurs ? [leaf, deps.authority.intermediate, deps.authority.root] : [leaf];
  let verification: InspectedCertificate['verification'] = { status: 'verified' };
  try {
    verifyChain({ leaf, intermediates: [deps.authority.intermediate], roots: [deps.authority.root], at: deps.clock.now() });
  } catch (e) {
    if (!isProvisioError(e)) throw e;
    verification = { status: 'failed', code: e.code, message: e.message };
  }
  return { record, chain, verification };
}
