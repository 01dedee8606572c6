/**
 * The Provisio device SDK (docs/device.md): the keystore, provisioning request creation from a
 * provisioning package, certified profile installation, and a report of the device's state.
 */
export * from './check-in.js';
export * from './derive-database-key.js';
export * from './device-audit-log.js';
export * from './device-database.js';
export * from './errors.js';
export * from './init-device.js';
export * from './install-profile.js';
export * from './keystore.js';
export * from './load-device.js';
export * from './provision-connected.js';
export * from './records.js';
export * from './renew-connected.js';
export * from './renewal-loop.js';
export * from './reprovision-connected.js';
export * from './run-agent.js';
export * from './show-device.js';
export * from './station-heartbeat.js';
export * from './simulate-fleet.js';
export * from './gateway/gateway-forwarder.js';
export * from './gateway/gateway-queue.js';
export * from './gateway/run-gateway.js';
export * from './enroll-with-secret.js';
export * from './pair-device.js';
