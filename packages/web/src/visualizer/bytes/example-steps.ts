/**
 * Which real example bytes (example-fixture.json, made by scripts/make-visualizer-fixture.ts)
 * each step of Provisio's own flows carries. The generic methods have none: their fields are
 * illustrative.
 */
export type ExampleArtifact =
  | 'request' | 'certificate' | 'profile'
  | 'pairing-hello' | 'pairing-request' | 'pairing-payload' | 'pairing-certificate' | 'pairing-profile' | 'device-audit'
  | 'token-request' | 'token-certificate' | 'token-profile';

/** The pairing's device steps, shared by the pairing-code and QR flows. */
const PAIRING: Readonly<Record<string, readonly ExampleArtifact[]>> = {
  'hello': ['pairing-hello'],
  'keygen': ['pairing-request'],
  'pair': ['pairing-request'],
  'approve': ['pairing-certificate'],
  'payload': ['pairing-payload'],
  'verify': ['pairing-payload', 'pairing-profile'],
  'install': ['pairing-profile'],
  'confirm': ['pairing-certificate'],
  'audit-log': ['device-audit'],
};

export const EXAMPLE_STEPS: Readonly<Record<string, Readonly<Record<string, readonly ExampleArtifact[]>>>> = {
  'provisio-connected': { init: ['request'], submit: ['request'], approve: ['certificate'], profile: ['profile'], install: ['profile'], confirm: ['certificate'] },
  'provisio-disconnected': { 'init': ['request'], 'carry-request': ['request'], 'upload': ['request'], 'approve': ['certificate'], 'download': ['profile'], 'carry-profile': ['profile'], 'install': ['profile'] },
  'provisio-proxy': { 'submit-gateway': ['request'], 'forward': ['request'], 'approve': ['certificate'], 'fetch-profiles': ['profile'], 'profile-gateway': ['profile'], 'install': ['profile'], 'confirm-gateway': ['certificate'], 'confirm-forward': ['certificate'] },
  'provisio-pairing': PAIRING,
  'qr-app': PAIRING,
  'token-psk': { enroll: ['token-request'], approve: ['token-certificate'], profile: ['token-profile'], install: ['token-profile'], confirm: ['token-certificate'] },
};
