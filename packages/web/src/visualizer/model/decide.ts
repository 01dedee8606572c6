/**
 * The decision guide: four answers → a recommended method and why (docs/visualizer.md lists the
 * rules). The rules are ordered: the first that applies decides.
 */
export const QUESTIONS = {
  connectivity: {
    label: 'Can the device reach the provisioning service when it is installed?',
    options: { online: 'Yes, over the network', site: 'Only a gateway on its site', offline: 'No network at all' },
  },
  installer: {
    label: 'Who installs it?',
    options: { technician: 'A technician', consumer: 'The end user (a consumer)', factory: 'Nobody on site: it ships ready from the factory' },
  },
  security: {
    label: 'How strong must the identity be?',
    options: { high: 'High: regulated, critical or safety-relevant', baseline: 'Baseline: a prototype or low-risk data' },
  },
  scale: {
    label: 'How many devices?',
    options: { few: 'Fewer than 100', hundreds: 'Hundreds to a few thousand', thousands: 'Tens of thousands or more' },
  },
} as const;

export type Question = keyof typeof QUESTIONS;
export type Answers = { [Q in Question]: keyof (typeof QUESTIONS)[Q]['options'] };

export const DEFAULT_ANSWERS: Answers = { connectivity: 'online', installer: 'technician', security: 'high', scale: 'hundreds' };

export interface Recommendation {
  readonly method: string;
  readonly reasons: readonly string[];
  /** Also worth a look, with the condition under which. */
  readonly alternatives: readonly { method: string; when: string }[];
}

export function recommend(a: Answers): Recommendation {
  if (a.connectivity === 'offline') {
    return {
      method: 'provisio-disconnected',
      reasons: ['The device has no network: only a method that carries signed files by hand works.', 'The request and profile are signed, so the USB stick needs no protection beyond the package itself.'],
      alternatives: [{ method: 'provisio-proxy', when: 'if a gateway can be placed on the device\'s network' }],
    };
  }
  if (a.connectivity === 'site') {
    return {
      method: 'provisio-proxy',
      reasons: ['The device reaches only its site: a gateway carries the traffic and queues it through outages.', 'The gateway cannot alter or forge anything: requests, profiles and confirmations are signed end to end.'],
      alternatives: [{ method: 'provisio-disconnected', when: 'if no gateway may be installed on site' }],
    };
  }
  if (a.installer === 'consumer') {
    return {
      method: 'qr-app',
      reasons: [
        'A person without training installs it: scanning a QR label on the onboarding page is the least friction, and nothing needs typing.',
        a.security === 'high' ? 'Under the label is the pairing code flow: a single-use, expiring code that locks after five wrong tries, a signed payload checked before anything is written, and mutual TLS; keep labels with their devices and expiries short.' : 'A unique, single-use code per device meets the ETSI EN 303 645 baseline on default passwords.',
      ],
      alternatives: [
        { method: 'provisio-pairing', when: 'if the code is typed on the device instead of scanned' },
        { method: 'manufacturer-cert', when: 'if the manufacturer installs an IDevID you can verify' },
      ],
    };
  }
  if (a.installer === 'factory') {
    if (a.security === 'high') {
      return a.scale === 'thousands'
        ? {
            method: 'zero-touch',
            reasons: ['Nobody touches the devices and there are many: they must onboard themselves.', 'A hardware identity plus an ownership voucher gives the strongest assurance without a shared secret.'],
            alternatives: [{ method: 'manufacturer-cert', when: 'if the manufacturer offers IDevIDs but no vouchers' }],
          }
        : {
            method: 'manufacturer-cert',
            reasons: ['The factory identity (IDevID) is the credential; your own CA issues the operational certificate.', 'Fewer devices: a serial list from the manufacturer replaces vouchers.'],
            alternatives: [{ method: 'zero-touch', when: 'as the fleet grows past tens of thousands' }],
          };
    }
    return {
      method: 'jitp',
      reasons: ['Devices leave the factory with a certificate of your CA and register themselves on first connection.', 'Baseline assurance accepts that nobody reviews each new device.'],
      alternatives: [{ method: 'manufacturer-cert', when: 'if you need to control which devices may join' }],
    };
  }
  // A technician, online.
  if (a.security === 'baseline' && a.scale === 'few') {
    return {
      method: 'token-psk',
      reasons: ['A handful of low-risk devices: a one-time token per device and one command on it is the least to set up.', 'The token is a bearer secret until it is spent: keep it single-use and short-lived; the identity the device keeps is a certificate.'],
      alternatives: [
        { method: 'provisio-pairing', when: 'if a PKI admin pre-registers each device and a technician types its code' },
        { method: 'provisio-connected', when: 'if the devices will go to production' },
      ],
    };
  }
  return {
    method: 'provisio-connected',
    reasons: [
      'The device reaches the service: it submits a doubly signed request itself and waits for the decision.',
      a.security === 'high' ? 'An approver (or a narrow automatic policy) decides each request, and the install is proven over mutual TLS.' : 'An automatic approval policy removes the wait while keeping the device id pattern and hourly cap.',
      a.scale === 'thousands' ? 'Long-polling, bulk approval and automatic policies keep the people out of the loop at scale.' : 'The package is per system, so one file serves every device of it.',
    ],
    alternatives: [
      { method: 'provisio-pairing', when: 'if no provisioning package may be loaded on the device: a PKI admin pre-registers it with a one-time pairing code (the hospital workflow)' },
      { method: 'x509-csr', when: 'if an existing EST-based PKI must be used' },
    ],
  };
}

export function answersFromQuery(query: URLSearchParams): Answers {
  const pick = <Q extends Question>(q: Q): Answers[Q] => {
    const v = query.get(q);
    return v !== null && Object.hasOwn(QUESTIONS[q].options, v) ? (v as Answers[Q]) : DEFAULT_ANSWERS[q];
  };
  return { connectivity: pick('connectivity'), installer: pick('installer'), security: pick('security'), scale: pick('scale') };
}

export function answersToQuery(a: Answers): string {
  return new URLSearchParams(a).toString();
}

/** Typical use cases, each a set of answers (the guide links them). */
export const USE_CASES: readonly { name: string; answers: Answers }[] = [
  { name: 'Bedside monitors on a hospital ward network without a route to the data centre', answers: { connectivity: 'site', installer: 'technician', security: 'high', scale: 'hundreds' } },
  { name: 'Air-gapped production line controllers', answers: { connectivity: 'offline', installer: 'technician', security: 'high', scale: 'few' } },
  { name: 'Smart-home plugs sold in shops', answers: { connectivity: 'online', installer: 'consumer', security: 'baseline', scale: 'thousands' } },
  { name: 'Industrial routers shipped straight to remote sites', answers: { connectivity: 'online', installer: 'factory', security: 'high', scale: 'thousands' } },
  { name: 'A lab prototype with ten sensors', answers: { connectivity: 'online', installer: 'technician', security: 'baseline', scale: 'few' } },
  { name: 'Infusion pumps installed by the hospital\'s biomedical technicians', answers: { connectivity: 'online', installer: 'technician', security: 'high', scale: 'hundreds' } },
];
