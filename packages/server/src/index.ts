export { DEFAULT_CRL_INTERVAL_MS, DEFAULT_PUBLISH_PORT, type Listen, MAX_CRL_INTERVAL_MS, MIN_CRL_INTERVAL_MS, type RunningService, type ServeOptions, startService } from './app.js';
export { trustedCheckpointVerifier, verifyCheckpointSignature } from './audit/checkpoint.js';
export { verifyStoreAudit } from './audit/verify-store-audit.js';
export { serverErrors } from './domain/errors.js';
export { ROUTES } from './http/routes.js';
export { openStore } from './store/open-store.js';
export { DEFAULT_EXPIRY_WINDOW_MS, parseExpiryWindow } from './domain/expiry.js';
export { DEFAULT_STATUS_CACHE_MS } from './station/revocation-checker.js';
