import { Controller, Get, Headers, Inject, Param, Query, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { RequireRole } from '@wfs/auth';
import { invalid, isTerminal, TERMINAL_EVENT_TYPES } from '@wfs/domain';
import { RunQueries } from '@wfs/runs';
import { ApiOp, RUN_ID } from './api-op';
import { EventsHub } from './events-hub';
import { boundedInt, PositiveInt } from './validation';

const HEARTBEAT_MS = 15_000;
/** A safety net under NOTIFY: a stream re-reads at least this often. */
const RECHECK_MS = 2_000;

@ApiTags('events')
@Controller('api/v1/runs/:id/events')
export class EventsController {
  constructor(
    @Inject(RunQueries) private readonly queries: RunQueries,
    @Inject(EventsHub) private readonly hub: EventsHub,
  ) {}

  @ApiOp({
    summary: "List a run's events in sequence order",
    path: { id: RUN_ID },
    query: {
      after: {
        description: 'Only events after this sequence',
        schema: { type: 'integer', minimum: 0, default: 0 },
      },
      limit: {
        description: 'At most this many (default 1000)',
        schema: { type: 'integer', minimum: 1, maximum: 5000, default: 1000 },
      },
      tail: {
        description: 'Only the last this many (not with after)',
        schema: { type: 'integer', minimum: 0, maximum: 5000 },
      },
    },
    responses: { 200: 'EventList' },
  })
  @Get()
  @RequireRole('viewer')
  async list(
    @Param('id', new PositiveInt('id')) id: number,
    @Query('after', boundedInt('after', 0, 2 ** 31 - 1, 0)) after: number,
    @Query('limit', boundedInt('limit', 1, 5000, 1000)) limit: number,
    @Query('tail', boundedInt('tail', 0, 5000, 0)) tail: number,
  ) {
    if (tail > 0 && after > 0)
      throw invalid('INVALID_REQUEST', 'Give either after or tail, not both.', {
        fields: { tail: 'cannot be combined with after' },
      });
    return {
      items:
        tail > 0
          ? await this.queries.latestEvents(id, tail)
          : await this.queries.events(id, after, limit),
    };
  }

  /** Server-Sent Events: id = sequence; resumes after Last-Event-ID; ends after the terminal event. */
  @ApiOp({
    summary: "Stream a run's events (Server-Sent Events)",
    description:
      'One Event per message, `id:` its sequence; honours Last-Event-ID; ends after the terminal event; heartbeats every 15 s.',
    path: { id: RUN_ID },
    query: {
      after: {
        description: 'Start after this sequence (Last-Event-ID wins)',
        schema: { type: 'integer', minimum: 0, default: 0 },
      },
    },
    responses: { 200: 'events' },
  })
  @Get('stream')
  @RequireRole('viewer')
  async stream(
    @Param('id', new PositiveInt('id')) id: number,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Query('after', boundedInt('after', 0, 2 ** 31 - 1, 0)) afterQuery: number,
    @Req() req: Request,
    @Res() res: Response,
  ) {
    let after = /^\d{1,10}$/.test(lastEventId ?? '') ? Number(lastEventId) : afterQuery;
    await this.queries.row(id); // 404 before the stream starts
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write(': stream of run ' + id + '\n\n');
    let closed = false;
    let reading = false;
    let again = false;
    const finish = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      clearInterval(recheck);
      unwatch();
      res.end();
    };
    const pump = async (): Promise<void> => {
      if (closed) return;
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          const events = await this.queries.events(id, after, 1000);
          for (const e of events) {
            res.write(`id: ${e.sequence}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
            after = e.sequence;
            if (TERMINAL_EVENT_TYPES.has(e.type)) {
              finish();
              return;
            }
          }
          if (events.length === 1000) again = true;
          // Resumed past the end of a finished run: nothing more will come.
          if (events.length === 0 && isTerminal((await this.queries.row(id)).state)) {
            finish();
            return;
          }
        } while (again && !closed);
      } catch {
        finish();
      } finally {
        reading = false;
      }
    };
    const unwatch = await this.hub.watch(id, () => void pump(), finish);
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
    const recheck = setInterval(() => void pump(), RECHECK_MS);
    req.on('close', finish);
    await pump();
  }
}
