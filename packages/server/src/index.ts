export { DEFAULT_CRL_INTERVAL_MS, MAX_CRL_INTERVAL_MS, MIN_CRL_INTERVAL_MS, type RunningService, type ServeOptions, startService } from './app.js';
export { trustedCheckpointVerifier, verifyCheckpointSignature } from './audit/checkpoint.js';
export { verifyStoreAudit } from './audit/verify-store-audit.js';
export { serverErrors } from './domain/errors.js';
export { ROUTES } from './http/routes.js';
export { openStore } from './store/open-store.js';
export { type AdmissionOptions, DEFAULT_ADMISSION } from './http/admission.js';
export { type ClientRateOptions, DEFAULT_CLIENT_RATE } from './http/client-rate-limit.js';
export { DEFAULT_LONG_POLL, type LongPollOptions, MAX_WAIT_SECONDS } from './http/decision-waiters.js';
