import type { Server } from 'node:http';
import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';

/**
 * A graceful stop under load. Node's server.close() refuses new connections
 * but goes on serving the keep-alive ones it has, so a client that keeps
 * calling (a burst, a poller) would hold a stopping API open for ever. Once
 * the application shuts down, every response says `Connection: close` and
 * connections are closed as soon as they are idle; the calls under way finish.
 */
@Injectable()
export class HttpDrain implements BeforeApplicationShutdown {
  closing = false;

  constructor(@Inject(HttpAdapterHost) private readonly host: HttpAdapterHost) {}

  /** Express middleware: one request more at most on each kept-alive connection. */
  readonly middleware = (_req: Request, res: Response, next: NextFunction): void => {
    if (this.closing) res.setHeader('Connection', 'close');
    next();
  };

  beforeApplicationShutdown(): void {
    this.closing = true;
    const server = this.host.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server?.listening) return;
    const timer = setInterval(() => server.closeIdleConnections(), 100).unref();
    server.once('close', () => clearInterval(timer));
  }
}
