/**
 * The certificate of a proxy gateway (docs/proxy.md): subject CN = the gateway's name, and the
 * hosts devices reach it by as DNS or IP subjectAltNames. Names come from the administrator's
 * request, never from the gateway's CSR (security.md: names only from approved data).
 */
import type { CertificateRequest } from './issue-certificate.js';
import { PkiError } from './errors.js';
import type { GeneralName } from './general-name.js';
import type { PublicKeyInfo } from './keys.js';
import type { SerialNumber } from './serial.js';

/** Lower-case letters, digits and '-', starting with a letter or digit: usable in paths and audit ids. */
const GATEWAY_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** RFC 1123 host names: labels of letters, digits and '-', not starting or ending with '-'. */
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
export const MAX_GATEWAY_HOSTS = 16;

export function parseGatewayName(text: string): string {
  if (!GATEWAY_NAME.test(text)) {
    throw new PkiError('identity_invalid', `gateway name "${JSON.stringify(text).slice(1, -1).slice(0, 80)}" must be 1-63 characters of a-z 0-9 - starting with a letter or digit`);
  }
  return text;
}

/** A host as a subjectAltName: an IPv4 address, or a DNS name (lower-cased). */
export function gatewayHostName(host: string): GeneralName {
  const h = host.trim().toLowerCase();
  if (IPV4.test(h)) return { type: 'ip', value: h };
  if (DNS_NAME.test(h)) return { type: 'dns', value: h };
  throw new PkiError('identity_invalid', `gateway host "${JSON.stringify(host).slice(1, -1).slice(0, 80)}" is neither an IPv4 address nor a DNS name`);
}

export function gatewayCertificateRequest(
  name: string,
  hosts: readonly string[],
  publicKey: PublicKeyInfo,
  serial: SerialNumber,
  validity: { readonly notBefore: Date; readonly notAfter: Date },
): CertificateRequest {
  if (hosts.length === 0 || hosts.length > MAX_GATEWAY_HOSTS) {
    throw new PkiError('identity_invalid', `a gateway needs 1 to ${MAX_GATEWAY_HOSTS} hosts; got ${hosts.length}`);
  }
  const names = hosts.map(gatewayHostName);
  return {
    profile: { kind: 'gateway' },
    serial,
    subject: [{ type: 'CN', value: parseGatewayName(name) }, { type: 'OU', value: 'Provisio gateway' }],
    subjectAltName: names.filter((n, i) => names.findIndex((m) => m.type === n.type && m.value === n.value) === i),
    publicKey,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
  };
}
