/** The standards a step may cite: the allowed list (the model test refuses any other id). */
export interface Standard {
  readonly title: string;
  readonly url: string;
}

export const STANDARDS = {
  'RFC 2986': { title: 'PKCS #10: Certification Request Syntax', url: 'https://www.rfc-editor.org/rfc/rfc2986' },
  'RFC 4210': { title: 'Internet X.509 PKI Certificate Management Protocol (CMP)', url: 'https://www.rfc-editor.org/rfc/rfc4210' },
  'RFC 4211': { title: 'Internet X.509 PKI Certificate Request Message Format (CRMF)', url: 'https://www.rfc-editor.org/rfc/rfc4211' },
  'RFC 5280': { title: 'Internet X.509 PKI Certificate and CRL Profile', url: 'https://www.rfc-editor.org/rfc/rfc5280' },
  'RFC 6960': { title: 'X.509 Internet PKI Online Certificate Status Protocol (OCSP)', url: 'https://www.rfc-editor.org/rfc/rfc6960' },
  'RFC 7030': { title: 'Enrollment over Secure Transport (EST)', url: 'https://www.rfc-editor.org/rfc/rfc7030' },
  'RFC 7515': { title: 'JSON Web Signature (JWS)', url: 'https://www.rfc-editor.org/rfc/rfc7515' },
  'RFC 8446': { title: 'The Transport Layer Security (TLS) Protocol Version 1.3', url: 'https://www.rfc-editor.org/rfc/rfc8446' },
  'RFC 8572': { title: 'Secure Zero Touch Provisioning (SZTP)', url: 'https://www.rfc-editor.org/rfc/rfc8572' },
  'RFC 8894': { title: 'Simple Certificate Enrolment Protocol (SCEP)', url: 'https://www.rfc-editor.org/rfc/rfc8894' },
  'RFC 8995': { title: 'Bootstrapping Remote Secure Key Infrastructure (BRSKI)', url: 'https://www.rfc-editor.org/rfc/rfc8995' },
  'RFC 9483': { title: 'Lightweight Certificate Management Protocol (CMP) Profile', url: 'https://www.rfc-editor.org/rfc/rfc9483' },
  'RFC 4279': { title: 'Pre-Shared Key Ciphersuites for TLS', url: 'https://www.rfc-editor.org/rfc/rfc4279' },
  'IEEE 802.1AR': { title: 'Secure Device Identity (IDevID / LDevID)', url: 'https://standards.ieee.org/ieee/802.1AR/6995/' },
  'IEC 62443-4-2': { title: 'Technical security requirements for IACS components', url: 'https://webstore.iec.ch/publication/34421' },
  'ETSI EN 303 645': { title: 'Cyber Security for Consumer Internet of Things: Baseline Requirements', url: 'https://www.etsi.org/deliver/etsi_en/303600_303699/303645/' },
  'NIST IR 8259': { title: 'Foundational Cybersecurity Activities for IoT Device Manufacturers', url: 'https://csrc.nist.gov/pubs/ir/8259/final' },
  'FDA premarket': { title: 'FDA: Cybersecurity in Medical Devices — Quality System Considerations and Content of Premarket Submissions (2023)', url: 'https://www.fda.gov/regulatory-information/search-fda-guidance-documents/cybersecurity-medical-devices-quality-system-considerations-and-content-premarket-submissions' },
  'Matter': { title: 'CSA Matter Core Specification: commissioning (setup payload, PASE, device attestation)', url: 'https://csa-iot.org/all-solutions/matter/' },
} as const satisfies Record<string, Standard>;

export type StandardId = keyof typeof STANDARDS;

export const CLAIM_LEVELS = {
  implements: 'implements the cited mechanism as specified',
  uses: 'uses a format or mechanism defined there',
  supports: 'helps meet a requirement there (evidence, not certification)',
  illustrates: 'the generic method as that document describes it; not part of Provisio itself',
} as const;
