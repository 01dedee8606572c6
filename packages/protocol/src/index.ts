export * from './bundle.js';
export * from './errors.js';
export * from './jws.js';
export * from './package-file.js';
export * from './profile.js';
export * from './request.js';
export * from './confirm-proof.js';
export * from './renewal-request.js';
