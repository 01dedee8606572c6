/**
 * `devices.pending_request_*`: a device's newest pending request (id, kind, expiry), recomputed
 * from the requests table. The store runs it in the transaction that inserts or decides a
 * request, so the Devices page can filter and order on one indexed table (migration 9).
 */
import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import type { DialectName } from './migrations.js';
import type { Database } from './schema.js';

/** The newest pending request's `expression` for the device of the row being updated. */
function newestPending<T>(expression: RawBuilder<unknown>): RawBuilder<T> {
  return sql<T>`(select ${expression} from requests r where r.device_id = devices.device_id and r.state = 'pending' order by r.created_at desc, r.id desc limit 1)`;
}

/**
 * Sets the pending request columns of one device (`deviceId`), or of every device (null: the
 * migration filling existing data). A device whose requests are all decided gets nulls. A request
 * that expired while pending stays: it still waits for a decision (a rejection; approval answers
 * request_expired), and the page says it expired.
 */
export async function refreshPendingRequests(db: Kysely<Database> | Transaction<Database>, deviceId: string | null, dialect: DialectName): Promise<void> {
  // PostgreSQL (READ COMMITTED): lock the device row first, so the UPDATE below starts, and takes
  // its snapshot, only once a concurrent writer of this device's requests has committed; an
  // UPDATE that waited for the lock itself would still compute from its older snapshot. SQLite
  // has one writer.
  if (deviceId !== null && dialect === 'postgres') await sql`select device_id from devices where device_id = ${deviceId} for update`.execute(db);
  let update = db.updateTable('devices').set({
    pending_request_id: newestPending<string | null>(sql`r.id`),
    pending_request_kind: newestPending<string | null>(sql`coalesce(r.kind, 'provision')`),
    pending_request_expires_at: newestPending<number | null>(sql`r.expires_at`),
  });
  if (deviceId !== null) update = update.where('device_id', '=', deviceId);
  await update.execute();
}
