/**
 * A DER value as a tree of labelled nodes with their byte ranges, for the byte view. Decoding is
 * asn1js's (display only: nothing here decides trust; the service's own strict reader does that);
 * the field names follow the ASN.1 of RFC 5280 §4.1 (Certificate, TBSCertificate, Name,
 * Extension, SubjectPublicKeyInfo) and RFC 2986 §4 (CertificationRequest).
 */
import * as asn1js from 'asn1js';
import { oidName } from './oid-names.js';

export interface DerNode {
  /** Stable within one tree: the child indexes from the root ("0.3.1"). */
  readonly id: string;
  /** The ASN.1 type as the bytes say it: "SEQUENCE", "INTEGER", "[3]". */
  readonly type: string;
  /** The field name from the structure's ASN.1, when known: "serialNumber", "subject". */
  readonly name: string | null;
  /** The decoded value in words: an OID with its name, a string, a time, an integer in hex. */
  readonly value: string | null;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** One past the last byte. */
  readonly end: number;
  readonly children: readonly DerNode[];
}

export type Structure = 'certificate' | 'csr' | 'any';

/** A schema: a field's name, and the schema of its children (a function of the child index). */
interface Shape {
  readonly name: string;
  readonly child?: (index: number, node: asn1js.AsnType, siblings: readonly asn1js.AsnType[]) => Shape | null;
}

const named = (name: string, child?: Shape['child']): Shape => (child ? { name, child } : { name });
const list = (...shapes: Shape[]): Shape['child'] => (i) => shapes[i] ?? null;

const algorithmIdentifier = (name: string) => named(name, list(named('algorithm'), named('parameters')));
const attributeTypeAndValue = named('AttributeTypeAndValue', list(named('type'), named('value')));
const rdn = named('RelativeDistinguishedName', () => attributeTypeAndValue);
const nameShape = (name: string) => named(name, () => rdn);
const spki = named('subjectPublicKeyInfo', list(algorithmIdentifier('algorithm'), named('subjectPublicKey')));
/** The ASN.1 type an extension's value holds (RFC 5280 §4.2.1), by the extension's name. */
const EXTENSION_VALUE: Readonly<Record<string, string>> = {
  basicConstraints: 'BasicConstraints', keyUsage: 'KeyUsage', extKeyUsage: 'ExtKeyUsageSyntax',
  subjectKeyIdentifier: 'SubjectKeyIdentifier', authorityKeyIdentifier: 'AuthorityKeyIdentifier',
  subjectAltName: 'GeneralNames', crlDistributionPoints: 'CRLDistributionPoints',
  authorityInfoAccess: 'AuthorityInfoAccessSyntax', certificatePolicies: 'CertificatePolicies',
};
const extension = named('Extension', (i, _n, siblings) => {
  if (i === 0) return named('extnID');
  if (i === 1 && siblings.length === 3) return named('critical');
  const id = siblings[0] instanceof asn1js.ObjectIdentifier ? oidName(siblings[0].getValue()) : null;
  const inner = id ? EXTENSION_VALUE[id] : undefined;
  return named('extnValue', inner ? () => named(inner) : undefined);
});
const extensions = named('extensions', () => named('Extensions', () => extension));

/** TBSCertificate: version is [0] EXPLICIT and optional, so the fields are told by their tags. */
const tbsCertificate = named('tbsCertificate', (i, node, siblings) => {
  const context = contextTag(node);
  if (context === 0) return named('version');
  if (context === 1) return named('issuerUniqueID');
  if (context === 2) return named('subjectUniqueID');
  if (context === 3) return extensions;
  const offset = contextTag(siblings[0]) === 0 ? 1 : 0;
  return [named('serialNumber'), algorithmIdentifier('signature'), nameShape('issuer'), named('validity', list(named('notBefore'), named('notAfter'))), nameShape('subject'), spki][i - offset] ?? null;
});
const certificate = named('Certificate', list(tbsCertificate, algorithmIdentifier('signatureAlgorithm'), named('signatureValue')));

const attribute = named('Attribute', list(named('type'), named('values', () => extensionsInRequest)));
const extensionsInRequest = named('Extensions', () => extension);
const certificationRequestInfo = named('certificationRequestInfo', list(named('version'), nameShape('subject'), spki, named('attributes', () => attribute)));
const certificationRequest = named('CertificationRequest', list(certificationRequestInfo, algorithmIdentifier('signatureAlgorithm'), named('signature')));

function contextTag(node: asn1js.AsnType | undefined): number | null {
  return node && node.idBlock.tagClass === 3 ? node.idBlock.tagNumber : null;
}

/** Refuses what is not one whole DER value (trailing bytes, a parse error). */
export function decodeDer(input: Uint8Array, structure: Structure = 'any'): DerNode {
  // A copy of its own (byteOffset 0): asn1js's views are positioned in the buffer it reads, and
  // an input that is a view into a larger buffer (a Node.js Buffer) would shift every offset.
  const bytes = new Uint8Array(input);
  const parsed = asn1js.fromBER(bytes);
  if (parsed.offset === -1 || parsed.offset !== bytes.length) throw new Error(`not one DER value: ${parsed.result.error || 'trailing bytes'}`);
  const root = structure === 'certificate' ? certificate : structure === 'csr' ? certificationRequest : null;
  return toNode(parsed.result, bytes, 0, '0', root, []);
}

/** `base`: where the buffer asn1js read (an encapsulated value's own copy) starts in `bytes`. */
function toNode(node: asn1js.AsnType, bytes: Uint8Array, base: number, id: string, shape: Shape | null, parents: readonly string[]): DerNode {
  const view = node.valueBeforeDecodeView;
  const start = base + view.byteOffset;
  const end = start + view.length;
  const contentStart = start + node.idBlock.blockLength + node.lenBlock.blockLength;
  let kids: asn1js.AsnType[] = node.idBlock.isConstructed ? ((node.valueBlock as unknown as { value: asn1js.AsnType[] }).value ?? []) : [];
  let kidsBase = base;
  // An extension's extnValue is an OCTET STRING holding DER: shown as the structure it encapsulates.
  if (shape?.name === 'extnValue' && !node.idBlock.isConstructed && end > contentStart) {
    const inner = asn1js.fromBER(bytes.slice(contentStart, end));
    if (inner.offset === end - contentStart) {
      kids = [inner.result];
      kidsBase = contentStart;
    }
  }
  const names = shape ? [...parents, shape.name] : parents;
  const children = kids.map((k, i) => toNode(k, bytes, kidsBase, `${id}.${i}`, shape?.child?.(i, k, kids) ?? null, names));
  return { id, type: typeOf(node), name: shape?.name ?? null, value: valueOf(node, bytes, contentStart, end, shape, children), start, contentStart, end, children };
}

function typeOf(node: asn1js.AsnType): string {
  const { tagClass, tagNumber } = node.idBlock;
  if (tagClass === 3) return `[${tagNumber}]`;
  if (tagClass !== 1) return `tag ${tagClass}:${tagNumber}`;
  return (node.constructor as unknown as { NAME?: string }).NAME ?? `tag ${tagNumber}`;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

function valueOf(node: asn1js.AsnType, bytes: Uint8Array, contentStart: number, end: number, shape: Shape | null, children: readonly DerNode[]): string | null {
  const content = bytes.subarray(contentStart, end);
  if (node instanceof asn1js.ObjectIdentifier) {
    const oid = node.getValue();
    const name = oidName(oid);
    return name ? `${name} (${oid})` : oid;
  }
  if (node instanceof asn1js.Integer) {
    // As openssl prints a serial: the magnitude in upper-case hex, without DER's sign octet.
    const magnitude = content.length > 1 && content[0] === 0 ? content.subarray(1) : content;
    return content.length <= 4 && shape?.name !== 'serialNumber' ? String(node.valueBlock.valueDec) : hex(magnitude).toUpperCase();
  }
  if (node instanceof asn1js.Boolean) return node.getValue() ? 'TRUE' : 'FALSE';
  if (node instanceof asn1js.Null) return null;
  if (node instanceof asn1js.UTCTime || node instanceof asn1js.GeneralizedTime) return node.toDate().toISOString();
  if (node instanceof asn1js.BaseStringBlock) return node.getValue();
  if (node instanceof asn1js.BitString) return `${(content.length - 1) * 8 - (content[0] ?? 0)} bits`;
  if (node instanceof asn1js.OctetString) return children.length > 0 ? 'encapsulates DER' : `${content.length} bytes`;
  if (shape?.name === 'AttributeTypeAndValue' && children.length === 2) return `${(children[0]?.value ?? '').replace(/ \(.*\)$/, '')} = ${children[1]?.value ?? ''}`;
  if (shape?.name === 'Extension' && children[0]) return children[0].value;
  // A GeneralName (RFC 5280 §4.2.1.6) such as [2] dNSName or [6] URI: its text when printable.
  if (node.idBlock.tagClass === 3 && !node.idBlock.isConstructed && content.length > 0 && content.every((b) => b >= 0x20 && b < 0x7f)) return new TextDecoder().decode(content);
  return null;
}

/** The deepest node whose bytes hold `offset`. */
export function nodeAt(root: DerNode, offset: number): DerNode {
  for (const c of root.children) if (offset >= c.start && offset < c.end) return nodeAt(c, offset);
  return root;
}

/** Every node, depth first, with its depth (the tree's order on screen). */
export function flatten(root: DerNode, depth = 0, out: { node: DerNode; depth: number }[] = []): { node: DerNode; depth: number }[] {
  out.push({ node: root, depth });
  for (const c of root.children) flatten(c, depth + 1, out);
  return out;
}

export { hex };
