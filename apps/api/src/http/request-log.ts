import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { Histogram } from 'prom-client';

/** An incoming X-Request-Id is kept when it is a plain token; anything else gets a fresh id. */
const GIVEN_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

interface Traced {
  reqId?: string;
  principal?: { name: string; role: string };
}

/** A request's id (X-Request-Id), for lines written while it is answered. */
export const reqIdOf = (req: unknown): string | undefined => (req as Traced).reqId;

/**
 * One line per request (method, route pattern, status, duration, actor) and
 * its reqId, answered in X-Request-Id; and the request's duration in
 * `wfs_http_request_duration_seconds{method,route,status}`. The route is the
 * pattern the call matched (`/api/v1/runs/:id`), never the raw URL:
 * `unmatched` for a call no route took, so the labels stay few.
 */
@Injectable()
export class RequestLog {
  private readonly log = new Logger('http');
  readonly duration = new Histogram({
    name: 'wfs_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status, by how long they took to answer',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [],
  });

  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    const given = req.headers['x-request-id'];
    const reqId = typeof given === 'string' && GIVEN_ID.test(given) ? given : randomUUID();
    (req as Traced).reqId = reqId;
    res.setHeader('X-Request-Id', reqId);
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.route
        ? `${req.baseUrl}${String((req.route as { path: unknown }).path)}`
        : 'unmatched';
      // A client that went away before the answer was complete: 499, as nginx says it.
      const status = res.writableFinished ? res.statusCode : 499;
      this.duration.observe({ method: req.method, route, status: String(status) }, seconds);
      const actor = (req as Traced).principal?.name;
      const line = {
        msg: `${req.method} ${route} ${status}`,
        reqId,
        method: req.method,
        route,
        status,
        durationMs: Math.round(seconds * 10000) / 10,
        ...(actor ? { actor } : {}),
      };
      if (status >= 500) this.log.error(line);
      else this.log.log(line);
    };
    res.once('finish', end);
    res.once('close', end);
    next();
  };
}
