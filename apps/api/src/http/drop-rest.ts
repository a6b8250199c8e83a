import type { Request } from 'express';

/** How long a refused request may keep sending its body (read and dropped) before the connection is cut. */
export const REFUSED_BODY_LINGER_MS = 5_000;

/**
 * After a body is refused part-way (too large, wrong state, bad name), the
 * answer goes out at once and whatever the client is still sending is read
 * and dropped, as servers do in a "lingering close". Closing on unread bytes
 * makes the kernel answer with a reset, and a client still writing then sees
 * EPIPE/ECONNRESET (or, paused, nothing at all) instead of the 4xx. A client
 * that keeps sending past the linger time is cut off.
 */
export function dropRest(req: Request): void {
  if (req.complete) return;
  req.unpipe();
  req.resume();
  const timer = setTimeout(() => {
    if (!req.complete) req.socket.destroy();
  }, REFUSED_BODY_LINGER_MS);
  timer.unref();
  const clear = () => clearTimeout(timer);
  req.once('end', clear);
  req.once('close', clear);
}
