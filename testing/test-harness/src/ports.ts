import { createServer } from 'node:net';

/** 10000 ms to get a pinned port back (TIME_WAIT, a racing bind) on restart */
export const PORT_REBIND_WINDOW_MS = 10_000;

/** Ports handed out recently by this process; the kernel may otherwise repeat one. */
const issued = new Set<number>();
/** 1024 remembered ports */
const ISSUED_MEMORY = 1024;
/** 20 attempts to get a port not handed out before */
const FREE_PORT_ATTEMPTS = 20;

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Another process can still take it
 * before you bind, so starters that use it retry on EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  let port = 0;
  for (let i = 0; i < FREE_PORT_ATTEMPTS; i++) {
    port = await bindEphemeral();
    if (!issued.has(port)) break;
  }
  issued.add(port);
  if (issued.size > ISSUED_MEMORY) {
    const oldest = issued.values().next().value;
    if (oldest !== undefined) issued.delete(oldest);
  }
  return port;
}

function bindEphemeral(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
