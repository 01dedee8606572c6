/**
 * The setup payload a QR code carries for QR/app onboarding (docs/formats.md "Setup payload"):
 * everything a technician's phone or a device needs to start pairing, as one small URI —
 *
 *   provisio-setup:?v=1&url=<service URL>&root=sha256:<64 hex>&id=<device id>&code=<pairing code>
 *   provisio-setup:?v=1&url=<service URL>&root=sha256:<64 hex>[&id=<device id>]&token=<token>
 *
 * `root` pins the root certificate by the SHA-256 of its DER, so whoever reads the code can
 * fetch the root from `url` and check it rather than trusting the network. The code or token is
 * a SECRET: a QR code holding one is handled like the code itself (shown once, a file 0600).
 * A URI rather than JSON because it is shorter (a smaller QR code a phone reads at arm's
 * length) and every platform parses it.
 */
import { ProtocolError } from './errors.js';

export const SETUP_SCHEME = 'provisio-setup:';
const MAX_SETUP_CHARS = 1024;

export type SetupPayload =
  | { readonly url: string; readonly rootSha256: string; readonly deviceId: string; readonly code: string }
  | { readonly url: string; readonly rootSha256: string; readonly deviceId?: string; readonly token: string };

export function formatSetupPayload(p: SetupPayload): string {
  const q = new URLSearchParams({ v: '1', url: p.url, root: `sha256:${p.rootSha256.toLowerCase()}` });
  if (p.deviceId !== undefined) q.set('id', p.deviceId);
  if ('code' in p) q.set('code', p.code);
  else q.set('token', p.token);
  return `${SETUP_SCHEME}?${q.toString()}`;
}

function malformed(why: string): ProtocolError {
  return new ProtocolError('setup_malformed', `not a Provisio setup payload: ${why}`);
}

export function parseSetupPayload(text: string): SetupPayload {
  const t = text.trim();
  if (t.length > MAX_SETUP_CHARS) throw malformed(`longer than ${MAX_SETUP_CHARS} characters`);
  if (!t.startsWith(`${SETUP_SCHEME}?`)) throw malformed(`it does not start with "${SETUP_SCHEME}?"`);
  const q = new URLSearchParams(t.slice(SETUP_SCHEME.length + 1));
  for (const name of new Set(q.keys())) {
    if (q.getAll(name).length > 1) throw malformed(`"${name}" appears more than once`);
  }
  if (q.get('v') !== '1') throw malformed(`version "${q.get('v') ?? ''}" is not 1`);
  const url = q.get('url') ?? '';
  if (!/^https:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(url)) throw malformed('"url" is not an https URL');
  const root = /^sha256:([0-9a-f]{64})$/.exec(q.get('root') ?? '');
  if (!root) throw malformed('"root" is not sha256: and 64 hex digits');
  const id = q.get('id');
  if (id !== null && !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(id)) throw malformed('"id" is not a device id');
  const code = q.get('code');
  const token = q.get('token');
  if ((code === null) === (token === null)) throw malformed('it holds neither or both of "code" and "token"');
  if (code !== null) {
    if (id === null) throw malformed('a pairing code needs its device "id"');
    return { url, rootSha256: root[1] as string, deviceId: id, code };
  }
  return { url, rootSha256: root[1] as string, ...(id !== null ? { deviceId: id } : {}), token: token as string };
}
