/**
 * Names of the object identifiers a reader meets in Provisio's certificates and requests: the
 * service's own table (packages/pki/src/oids.ts, so a new OID there is named here too) and the
 * X.520 and PKCS#9 names other tools put in CSRs.
 */
import { OID } from '../../../../pki/src/oids.js';

const OTHERS: Readonly<Record<string, string>> = {
  '2.5.4.7': 'locality',
  '2.5.4.8': 'stateOrProvince',
  '2.5.4.13': 'description',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.2.840.113549.1.9.7': 'challengePassword',
  '2.5.29.30': 'nameConstraints',
  '1.3.6.1.5.5.7.3.4': 'kpEmailProtection',
  '1.3.6.1.5.5.7.3.8': 'kpTimeStamping',
};

const NAMES: ReadonlyMap<string, string> = new Map([...Object.entries(OID).map(([name, oid]) => [oid, name] as const), ...Object.entries(OTHERS)]);

export function oidName(oid: string): string | null {
  return NAMES.get(oid) ?? null;
}
