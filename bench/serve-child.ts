/**
 * The service in its own process for bench/connected.ts (forked with an IPC channel): starts the
 * real service on a loopback port with the database named in argv, reports where it listens,
 * and closes cleanly when told. Nothing here is specific to the benchmark but the wiring.
 */
import { readFileSync } from 'node:fs';
import { startService } from '@provisio/server';

const [dataDir, db] = process.argv.slice(2);
if (!dataDir || !process.send) throw new Error('usage: fork serve-child.ts DATA_DIR [DB_URL] (with an IPC channel)');
const service = await startService({ dataDir, host: '127.0.0.1', port: 0, clientRate: { ratePerSecond: 0 }, ...(db ? { db } : {}) });
process.send({
  url: service.url,
  rootPem: readFileSync(service.rootPath, 'utf8'),
  adminToken: readFileSync(service.adminTokenPath, 'utf8').trim(),
});
// A benchmark that died (Ctrl-C, a broken pipe) must not leave a service running.
process.on('disconnect', () => process.exit(0));
process.on('message', (m) => {
  // CPU time used so far (user + system, µs): the benchmark charges it per enrollment.
  if (m === 'cpu') process.send?.({ cpuMicros: process.cpuUsage().user + process.cpuUsage().system });
  if (m === 'close') void service.close().then(() => process.exit(0));
});
