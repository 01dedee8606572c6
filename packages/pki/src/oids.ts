/** Object identifiers used by Provisio, with the document that assigns each. */
export const OID = {
  // RFC 5480 §2.1.1 / RFC 8017 Appendix C
  ecPublicKey: '1.2.840.10045.2.1',
  p256: '1.2.840.10045.3.1.7',
  p384: '1.3.132.0.34',
  rsaEncryption: '1.2.840.113549.1.1.1',
  // RFC 5758 §3.2, RFC 4055 §5
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  // X.520 attribute types
  commonName: '2.5.4.3',
  serialNumber: '2.5.4.5',
  country: '2.5.4.6',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  // RFC 5280 §4.2.1
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
  crlDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  accessOcsp: '1.3.6.1.5.5.7.48.1',
  accessCaIssuers: '1.3.6.1.5.5.7.48.2',
  // RFC 5280 §4.2.1.12
  kpServerAuth: '1.3.6.1.5.5.7.3.1',
  kpClientAuth: '1.3.6.1.5.5.7.3.2',
  kpOcspSigning: '1.3.6.1.5.5.7.3.9',
  /** id-kp-cmcRA (RFC 6402 §2.10): a registration authority, here the SCEP RA. */
  kpCmcRa: '1.3.6.1.5.5.7.3.28',
  // Provisio's own key purposes. They were first minted under the UUID arc 2.25 (X.667), whose
  // 128-bit arcs Go's crypto/x509 and GnuTLS refuse to parse; Microsoft's arc for OIDs made from
  // a GUID (1.2.840.113556.1.8000.2554, the GUID split into arcs below 2^24) keeps them unique
  // without a registration and every arc below 2^31. Same GUIDs as the 2.25 forms (D34).
  /** A package's bootstrap credential: may sign provisioning requests, nothing else. */
  kpProvisioRequestSigning: '1.2.840.113556.1.8000.2554.52208.28202.49527.19085.46349.14365100.10057677',
  /** The service's profile signer: may sign certified profiles, nothing else. */
  kpProvisioProfileSigning: '1.2.840.113556.1.8000.2554.41344.50993.56458.17865.42715.9508117.1444142',
  // X.520 id-at-role: the device's component (its role in the system) beside OU = the system.
  role: '2.5.4.72',
  // RFC 6960
  ocspBasic: '1.3.6.1.5.5.7.48.1.1',
  ocspNonce: '1.3.6.1.5.5.7.48.1.2',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
  // PKCS#9 (RFC 2985 §5.4.1, §5.4.2): CSR challengePassword and extensionRequest attributes
  challengePassword: '1.2.840.113549.1.9.7',
  extensionRequest: '1.2.840.113549.1.9.14',
} as const;

/**
 * Earlier OIDs still accepted on input (certificates issued before D34 keep verifying until they
 * expire); never written.
 */
export const LEGACY_OIDS: Readonly<Record<string, readonly string[]>> = {
  [OID.kpProvisioRequestSigning]: ['2.25.271081668842900329250379676066833332173'],
  [OID.kpProvisioProfileSigning]: ['2.25.214674361469208866842240721738565814574'],
};

/** True when `present` holds `wanted` or one of its legacy forms. */
export function hasOid(present: readonly string[] | undefined, wanted: string): boolean {
  return present !== undefined && (present.includes(wanted) || (LEGACY_OIDS[wanted] ?? []).some((o) => present.includes(o)));
}

const EKU_NAMES: Readonly<Record<string, string>> = {
  [OID.kpServerAuth]: 'serverAuth',
  [OID.kpClientAuth]: 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  [OID.kpOcspSigning]: 'OCSPSigning',
  [OID.kpCmcRa]: 'cmcRA',
  [OID.kpProvisioRequestSigning]: 'provisioRequestSigning',
  [OID.kpProvisioProfileSigning]: 'provisioProfileSigning',
  ...Object.fromEntries(LEGACY_OIDS[OID.kpProvisioRequestSigning]!.map((o) => [o, 'provisioRequestSigning (legacy OID)'])),
  ...Object.fromEntries(LEGACY_OIDS[OID.kpProvisioProfileSigning]!.map((o) => [o, 'provisioProfileSigning (legacy OID)'])),
};

/** The short name of an extended key usage (as openssl prints it), else the dotted OID. */
export function extKeyUsageName(oid: string): string {
  return EKU_NAMES[oid] ?? oid;
}
