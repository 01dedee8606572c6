/**
 * The setup payload a pairing's or token's QR code carries (docs/formats.md "Setup payload"),
 * read the way @provisio/protocol's parseSetupPayload reads it (the page does not bundle the
 * protocol package, which needs Node's crypto):
 *
 *   provisio-setup:?v=1&url=...&root=sha256:<hex>&id=DEV-001&code=ABCD-1234   (or &token=...)
 */
export type Setup =
  | { readonly url: string; readonly rootSha256: string; readonly deviceId: string; readonly code: string }
  | { readonly url: string; readonly rootSha256: string; readonly deviceId?: string; readonly token: string };

const SCHEME = 'provisio-setup:';

export function looksLikeSetup(text: string): boolean {
  return text.trim().startsWith(SCHEME);
}

/** The payload's fields; throws an Error that says what is wrong. */
export function parseSetup(text: string): Setup {
  const t = text.trim();
  const bad = (why: string) => new Error(`not a Provisio setup payload: ${why}`);
  if (t.length > 1024 || !t.startsWith(`${SCHEME}?`)) throw bad(`it does not start with "${SCHEME}?"`);
  const q = new URLSearchParams(t.slice(SCHEME.length + 1));
  for (const name of new Set(q.keys())) if (q.getAll(name).length > 1) throw bad(`"${name}" appears more than once`);
  if (q.get('v') !== '1') throw bad('its version is not 1');
  const url = q.get('url') ?? '';
  if (!/^https:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(url)) throw bad('"url" is not an https URL');
  const root = /^sha256:([0-9a-f]{64})$/.exec(q.get('root') ?? '');
  if (!root) throw bad('"root" is not a SHA-256 fingerprint');
  const id = q.get('id');
  if (id !== null && !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(id)) throw bad('"id" is not a device id');
  const code = q.get('code');
  const token = q.get('token');
  if ((code === null) === (token === null)) throw bad('it holds neither or both of a code and a token');
  if (code !== null) {
    if (id === null) throw bad('a pairing code needs its device id');
    return { url, rootSha256: root[1] as string, deviceId: id, code };
  }
  return { url, rootSha256: root[1] as string, ...(id !== null ? { deviceId: id } : {}), token: token as string };
}
