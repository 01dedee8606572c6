/**
 * The pipeline's template and modifier steps: a method's template becomes a certificate request
 * of its profile (names only from the template, the CSR gives only its key), then the modifiers
 * set what no method chooses: a fresh random serial and the validity from now (validity.ts).
 */
import {
  type CertificateRequest,
  type GeneralName,
  type PublicKeyInfo,
  type Random,
  deviceCertificateRequest,
  gatewayCertificateRequest,
  randomSerial,
} from '@provisio/pki';
import type { CertificateTemplate } from './method.js';
import { BACKDATE_MS, DAY_MS } from './validity.js';

/** A TLS server certificate's names: IPv4 addresses as iPAddress, the rest as dNSName. */
function serverNames(names: readonly string[]): GeneralName[] {
  return names.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? { type: 'ip', value: n } : { type: 'dns', value: n }));
}

export function certificateRequestFor(
  template: CertificateTemplate,
  publicKey: PublicKeyInfo,
  modifiers: { readonly random: Random; readonly now: Date; readonly lifetimeDays: number },
): CertificateRequest {
  const serial = randomSerial(modifiers.random);
  const validity = {
    notBefore: new Date(modifiers.now.getTime() - BACKDATE_MS[template.kind]),
    notAfter: new Date(modifiers.now.getTime() + modifiers.lifetimeDays * DAY_MS),
  };
  const common = { serial, publicKey, ...validity };
  switch (template.kind) {
    case 'device':
      return deviceCertificateRequest(template.identity, publicKey, serial, validity);
    case 'gateway':
      return gatewayCertificateRequest(template.name, template.hosts, publicKey, serial, validity);
    case 'bootstrap':
      return { ...common, profile: { kind: 'bootstrap' }, subject: [{ type: 'CN', value: `bootstrap ${template.packageId}` }, { type: 'OU', value: template.system }] };
    case 'tls-server':
      return { ...common, profile: { kind: 'tls-server' }, subject: [{ type: 'CN', value: template.names[0] ?? 'localhost' }], subjectAltName: serverNames(template.names) };
    case 'ocsp-responder':
      return { ...common, profile: { kind: 'ocsp-responder' }, subject: [{ type: 'CN', value: 'Provisio OCSP responder' }] };
    case 'profile-signer':
      return { ...common, profile: { kind: 'profile-signer' }, subject: [{ type: 'CN', value: 'Provisio profile signer' }] };
    case 'scep-ra':
      return { ...common, profile: { kind: 'scep-ra' }, subject: [{ type: 'CN', value: 'Provisio SCEP RA' }] };
  }
}
