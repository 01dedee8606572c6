/**
 * Listening sockets bound before anything else happens at start (docs/decisions.md D33): a port
 * already taken fails the start before the data directory, the CA, the admin or its token are
 * made, and names the port and the flag that picks another. The bound socket is then handed to
 * the server that serves on it, so no other process can take the port in between.
 */
import { type Server, createServer } from 'node:net';
import { ServiceError } from '../domain/errors.js';

export interface Listen {
  readonly host: string;
  readonly port: number;
}

export interface BoundPort {
  readonly host: string;
  /** The port bound (the one the OS picked for port 0). */
  readonly port: number;
  /**
   * Options for `server.listen()` (Fastify's `app.listen()` passes them on) that adopt this
   * socket: Node's listen(handle) accepts "anything with an underlying _handle member". The
   * numeric host keeps Fastify from binding further addresses for "localhost".
   */
  adopt(): { host: string; _handle: unknown };
  /** Closes the socket if it was never adopted (a start that failed after binding). */
  release(): Promise<void>;
}

/**
 * Binds `listen`; `hint` names what to pass instead ("--publish-listen HOST:PORT or off"). A
 * connection arriving before the socket is adopted is closed: the service is not serving yet.
 */
export async function bindPort(listen: Listen, hint: string): Promise<BoundPort> {
  const holder: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    holder.once('error', reject);
    holder.listen({ host: listen.host, port: listen.port, exclusive: true }, () => {
      holder.off('error', reject);
      resolve();
    });
  }).catch((error: unknown) => {
    throw bindError(error, listen, hint);
  });
  const address = holder.address();
  if (typeof address !== 'object' || address === null) throw new Error(`no address for ${listen.host}:${listen.port}`);
  let adopted = false;
  return {
    host: address.address,
    port: address.port,
    adopt() {
      adopted = true;
      return { host: address.address, _handle: (holder as unknown as { _handle: unknown })._handle };
    },
    release: () => (adopted ? Promise.resolve() : new Promise<void>((resolve) => holder.close(() => resolve()))),
  };
}

function bindError(error: unknown, listen: Listen, hint: string): Error {
  const code = (error as { code?: string }).code;
  if (code === 'EADDRINUSE') return new ServiceError('port_in_use', `port ${listen.port} is in use: pass ${hint}`);
  const why = code === 'EACCES' ? 'this user may not use it' : code === 'EADDRNOTAVAIL' ? `${listen.host} is not an address of this machine` : (code ?? String(error));
  return new ServiceError('listen_failed', `cannot listen on ${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port} (${why}): pass ${hint}`);
}
