/**
 * Decisions told to every service node on one PostgreSQL database (LISTEN/NOTIFY), so a device's
 * long-poll held on one node answers at once when an approver decides on another
 * (http/decision-waiters.ts). Best effort by design: a lost notification (listener connection
 * down, reconnecting) only means the held poll runs to its timeout and the device asks again —
 * exactly what happens without this module. Nothing here decides anything.
 *
 * Channels are database-wide, not per schema: the channel name carries a hash of the schema, so
 * installations (or test runs) sharing one database never wake each other.
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';

export interface DecisionFanOut {
  /** Tells the other nodes (never this one: it woke its own polls already). */
  decided(requestId: string): void;
  close(): Promise<void>;
}

export interface FanOutOptions {
  readonly url: string;
  readonly schema?: string;
  /** A decision made on another node. */
  readonly onRemote: (requestId: string) => void;
  readonly log: (line: string) => void;
}

const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 30_000;

export function channelFor(schema: string | undefined): string {
  return `provisio_decided_${createHash('sha256').update(schema ?? 'public').digest('hex').slice(0, 16)}`;
}

export async function startPgDecisionFanOut(options: FanOutOptions): Promise<DecisionFanOut> {
  const channel = channelFor(options.schema);
  // Payload "<node>:<request id>": a node hears its own NOTIFY too and skips it.
  const node = randomBytes(8).toString('hex');
  let client: pg.Client | null = null;
  let closed = false;
  let retryMs = RECONNECT_FIRST_MS;
  let retryTimer: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: options.url });
    const lost = (why: string) => {
      if (client !== c) return;
      client = null;
      c.end().catch(() => {});
      if (closed) return;
      options.log(`decision fan-out: listener connection lost (${why}); held polls on this node answer at their timeout until it is back`);
      scheduleReconnect();
    };
    c.on('error', (e) => lost(e.message));
    c.on('end', () => lost('connection ended'));
    c.on('notification', (n) => {
      const [from, requestId] = (n.payload ?? '').split(':');
      if (n.channel === channel && from !== node && requestId) options.onRemote(requestId);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch (error) {
      await c.end().catch(() => {});
      throw error;
    }
    client = c;
    retryMs = RECONNECT_FIRST_MS;
  };

  const scheduleReconnect = () => {
    retryTimer = setTimeout(() => {
      connect().catch((e: unknown) => {
        options.log(`decision fan-out: cannot listen (${(e as Error).message}); retrying in ${Math.round(retryMs / 1000)} s`);
        retryMs = Math.min(RECONNECT_MAX_MS, retryMs * 2);
        if (!closed) scheduleReconnect();
      });
    }, retryMs);
    retryTimer.unref();
  };

  // The first connection must work: a wrong URL is an error at start, not a silent degradation.
  await connect();

  // One statement at a time on the listening connection (pg queues overlapping calls but warns).
  let sending: Promise<unknown> = Promise.resolve();
  return {
    decided(requestId) {
      // After the decision committed (the domain calls this then); a failure costs a wake-up only.
      sending = sending.then(() => client?.query('SELECT pg_notify($1, $2)', [channel, `${node}:${requestId}`])).catch(() => {});
    },
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      await sending;
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
