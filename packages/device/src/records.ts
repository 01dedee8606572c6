/**
 * The two JSON records of the keystore: identity.json (who this device is, where provisioning
 * stands) and install.json (what was installed). Both are checked field by field when read: a
 * keystore file edited by hand or damaged on disk is `keystore_damaged`, never a crash later.
 */
import { KEY_TYPES, type KeyType } from '@provisio/pki';
import { DeviceError } from './errors.js';

export type DeviceState = 'requested' | 'installed';

export interface IdentityRecord {
  readonly format: 'provisio.device-identity';
  readonly v: 1;
  readonly deviceId: string;
  readonly deviceLabel: string;
  readonly system: string;
  readonly component: string;
  readonly packageId: string;
  readonly hardwareSerial: string | null;
  readonly firmwareVersion: string | null;
  readonly keyType: KeyType;
  /** SHA-256 over the device key's SubjectPublicKeyInfo (lowercase hex). */
  readonly publicKeySha256: string;
  /** SHA-256 over root.crt's DER: the package's root of trust, fixed at init. */
  readonly rootSha256: string;
  /** The provisioning request's own expiry (RFC 3339). */
  readonly requestExpiresAt: string;
  readonly state: DeviceState;
  readonly createdAt: string;
  readonly mock: boolean;
  /**
   * The package's service URL, copied at init: where a connected device (the agent) submits when
   * no URL is given. Absent in keystores made before it was recorded.
   */
  readonly serviceUrl?: string;
}

export interface InstallRecord {
  readonly format: 'provisio.device-install';
  readonly v: 1;
  /** The service's id for the request this profile answers. */
  readonly requestId: string;
  /** Device certificate serial, canonical lowercase hex. */
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** When the service issued the profile (from the profile). */
  readonly issuedAt: string;
  /** When this device installed it (device clock). */
  readonly installedAt: string;
  /** SHA-256 over profile.pcp exactly as received. */
  readonly profileSha256: string;
  /**
   * Connected delivery: when the service confirmed the install (a mutual-TLS call with this
   * certificate, on which it marked the device Provisioned; device clock). Absent until then.
   */
  readonly confirmedAt?: string;
}

/**
 * Connected delivery: the service accepted request.ppr under this id (written right after the
 * submit, so a restarted agent waits for this request instead of submitting it again).
 */
export interface SubmissionRecord {
  readonly format: 'provisio.device-submission';
  readonly v: 1;
  readonly requestId: string;
  /** The service it was submitted to; another URL means another service: submit again. */
  readonly serviceUrl: string;
  /** SHA-256 over request.ppr as submitted; a new request (init --reset) makes this stale. */
  readonly requestSha256: string;
  readonly submittedAt: string;
}

type Json = Record<string, unknown>;

function damaged(file: string, why: string): DeviceError {
  return new DeviceError(
    'keystore_damaged',
    `${file} is damaged: ${why}`,
    'restore the keystore from a backup, or reset the device and provision it again',
  );
}

function parseObject(text: string, file: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw damaged(file, 'not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw damaged(file, 'not a JSON object');
  return value as Json;
}

function str(o: Json, key: string, file: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > 1024) throw damaged(file, `field "${key}" is not a string`);
  return v;
}

function optStr(o: Json, key: string, file: string): string | null {
  return o[key] === null ? null : str(o, key, file);
}

function hex64(o: Json, key: string, file: string): string {
  const v = str(o, key, file);
  if (!/^[0-9a-f]{64}$/.test(v)) throw damaged(file, `field "${key}" is not a SHA-256 in hex`);
  return v;
}

function time(o: Json, key: string, file: string): string {
  const v = str(o, key, file);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v) || Number.isNaN(Date.parse(v))) {
    throw damaged(file, `field "${key}" is not an RFC 3339 UTC time`);
  }
  return v;
}

export function parseIdentityRecord(text: string): IdentityRecord {
  const file = 'identity.json';
  const o = parseObject(text, file);
  if (o.format !== 'provisio.device-identity' || o.v !== 1) {
    throw damaged(file, 'not a version 1 provisio.device-identity record');
  }
  const keyType = str(o, 'keyType', file);
  if (!(KEY_TYPES as readonly string[]).includes(keyType)) throw damaged(file, `unknown keyType "${keyType}"`);
  const state = str(o, 'state', file);
  if (state !== 'requested' && state !== 'installed') throw damaged(file, `unknown state "${state}"`);
  if (typeof o.mock !== 'boolean') throw damaged(file, 'field "mock" is not a boolean');
  return {
    format: 'provisio.device-identity',
    v: 1,
    deviceId: str(o, 'deviceId', file),
    deviceLabel: str(o, 'deviceLabel', file),
    system: str(o, 'system', file),
    component: str(o, 'component', file),
    packageId: str(o, 'packageId', file),
    hardwareSerial: optStr(o, 'hardwareSerial', file),
    firmwareVersion: optStr(o, 'firmwareVersion', file),
    keyType: keyType as KeyType,
    publicKeySha256: hex64(o, 'publicKeySha256', file),
    rootSha256: hex64(o, 'rootSha256', file),
    requestExpiresAt: time(o, 'requestExpiresAt', file),
    state,
    createdAt: time(o, 'createdAt', file),
    mock: o.mock,
    ...(o.serviceUrl === undefined ? {} : { serviceUrl: str(o, 'serviceUrl', file) }),
  };
}

export function parseInstallRecord(text: string): InstallRecord {
  const file = 'install.json';
  const o = parseObject(text, file);
  if (o.format !== 'provisio.device-install' || o.v !== 1) {
    throw damaged(file, 'not a version 1 provisio.device-install record');
  }
  const serial = str(o, 'serial', file);
  if (!/^[0-9a-f]{1,40}$/.test(serial)) throw damaged(file, 'field "serial" is not a canonical serial');
  return {
    format: 'provisio.device-install',
    v: 1,
    requestId: str(o, 'requestId', file),
    serial,
    notBefore: time(o, 'notBefore', file),
    notAfter: time(o, 'notAfter', file),
    issuedAt: time(o, 'issuedAt', file),
    installedAt: time(o, 'installedAt', file),
    profileSha256: hex64(o, 'profileSha256', file),
    ...(o.confirmedAt === undefined ? {} : { confirmedAt: time(o, 'confirmedAt', file) }),
  };
}

export function parseSubmissionRecord(text: string): SubmissionRecord {
  const file = 'submission.json';
  const o = parseObject(text, file);
  if (o.format !== 'provisio.device-submission' || o.v !== 1) {
    throw damaged(file, 'not a version 1 provisio.device-submission record');
  }
  const requestId = str(o, 'requestId', file);
  if (!/^[A-Za-z0-9._:-]{1,80}$/.test(requestId)) throw damaged(file, 'field "requestId" is not a request id');
  return {
    format: 'provisio.device-submission',
    v: 1,
    requestId,
    serviceUrl: str(o, 'serviceUrl', file),
    requestSha256: hex64(o, 'requestSha256', file),
    submittedAt: time(o, 'submittedAt', file),
  };
}

/** Stable, readable JSON with a trailing newline (records are small; people read them). */
export function serializeRecord(record: IdentityRecord | InstallRecord | SubmissionRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}
