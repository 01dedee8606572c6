export * from './clock.js';
export * from './openssl.js';
export * from './random.js';
export * from './temp-dir.js';
export * from './test-pki.js';
export * from './weak-rsa.js';
