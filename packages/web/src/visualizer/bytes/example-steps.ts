/**
 * Which real example bytes (example-fixture.json, made by scripts/make-visualizer-fixture.ts)
 * each step of Provisio's own flows carries. The generic methods have none: their fields are
 * illustrative.
 */
export type ExampleArtifact = 'request' | 'certificate' | 'profile';

export const EXAMPLE_STEPS: Readonly<Record<string, Readonly<Record<string, readonly ExampleArtifact[]>>>> = {
  'provisio-connected': { init: ['request'], submit: ['request'], approve: ['certificate'], profile: ['profile'], install: ['profile'], confirm: ['certificate'] },
  'provisio-disconnected': { 'init': ['request'], 'carry-request': ['request'], 'upload': ['request'], 'approve': ['certificate'], 'download': ['profile'], 'carry-profile': ['profile'], 'install': ['profile'] },
  'provisio-proxy': { 'submit-gateway': ['request'], 'forward': ['request'], 'approve': ['certificate'], 'fetch-profiles': ['profile'], 'profile-gateway': ['profile'], 'install': ['profile'], 'confirm-gateway': ['certificate'], 'confirm-forward': ['certificate'] },
};
