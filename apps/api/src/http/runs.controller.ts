import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Audited } from '@wfs/audit';
import type { Response } from 'express';
import { AuthenticatedRequest, RequireRole } from '@wfs/auth';
import { invalid, RUN_STATES, QA_STATES, ARCHIVE_STATES } from '@wfs/domain';
import { CancelRun, CreateRun, RunFilter, RunQueries, SubmitRun } from '@wfs/runs';
import { CreateRunBody } from './dto';
import { boundedInt, PositiveInt } from './validation';
import { actorOf } from './workflows.controller';

const actor = (req: AuthenticatedRequest): string => req.principal?.name ?? 'unknown';

function oneOf(
  field: string,
  value: string | undefined,
  allowed: readonly string[],
): string | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value)) {
    throw invalid('INVALID_REQUEST', `${field} must be one of ${allowed.join(', ')}.`, {
      fields: { [field]: `must be one of ${allowed.join(', ')}` },
    });
  }
  return value;
}

@ApiTags('runs')
@ApiBearerAuth()
@Controller('api/v1')
export class RunsController {
  constructor(
    @Inject(CreateRun) private readonly createRun: CreateRun,
    @Inject(SubmitRun) private readonly submitRun: SubmitRun,
    @Inject(CancelRun) private readonly cancelRun: CancelRun,
    @Inject(RunQueries) private readonly queries: RunQueries,
  ) {}

  @Post('workflows/:name/runs')
  @RequireRole('da')
  @Audited('create', { workflow: 'name' }, (run) => ({ target: { runId: run?.id } }))
  async create(
    @Param('name') workflow: string,
    @Body() body: CreateRunBody,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,200}$/.test(idempotencyKey)) {
      throw invalid('INVALID_REQUEST', 'Idempotency-Key must be 1-200 visible ASCII characters.', {
        fields: { 'Idempotency-Key': 'is invalid' },
      });
    }
    const { runId, created, view } = await this.createRun.execute({
      workflow,
      ...body,
      actor: actor(req),
      idempotencyKey: idempotencyKey ?? null,
    });
    if (!created) res.status(200);
    return view ?? this.queries.get(runId);
  }

  @Get('runs')
  @RequireRole('viewer')
  list(
    @Query('limit', boundedInt('limit', 1, 500, 50)) limit: number,
    @Query('cursor') cursor: string | undefined,
    @Query('requestId') requestId: string | undefined,
    @Query() query: Record<string, string>,
  ) {
    const known = new Set([
      'workflow',
      'state',
      'qaState',
      'archiveState',
      'subject',
      'correlationId',
      'requestId',
      'limit',
      'cursor',
    ]);
    const unknown = Object.keys(query).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw invalid('INVALID_REQUEST', `Unknown query parameter(s): ${unknown.join(', ')}.`, {
        fields: Object.fromEntries(unknown.map((u) => [u, 'is not a filter'])),
      });
    }
    for (const [k, v] of Object.entries(query)) {
      if (typeof v !== 'string')
        throw invalid('INVALID_REQUEST', `${k} must be given once.`, {
          fields: { [k]: 'must be given once' },
        });
    }
    const filter: RunFilter = {
      workflow: query.workflow,
      state: oneOf('state', query.state, RUN_STATES),
      qaState: oneOf('qaState', query.qaState, QA_STATES),
      archiveState: oneOf('archiveState', query.archiveState, ARCHIVE_STATES),
      subject: query.subject,
      correlationId: query.correlationId,
      requestId:
        requestId === undefined ? undefined : new PositiveInt('requestId').transform(requestId),
    };
    return this.queries.list(filter, limit, cursor);
  }

  @Get('runs/:id')
  @RequireRole('viewer')
  get(@Param('id', new PositiveInt('id')) id: number) {
    return this.queries.get(id);
  }

  @Post('runs/:id/submit')
  @HttpCode(202)
  @RequireRole('da')
  @Audited('submit', { runId: 'id' })
  async submit(@Param('id', new PositiveInt('id')) id: number) {
    await this.submitRun.execute(id);
    return this.queries.get(id);
  }

  @Post('runs/:id/cancel')
  @HttpCode(202)
  @RequireRole('da')
  @Audited('cancel', { runId: 'id' })
  async cancel(@Param('id', new PositiveInt('id')) id: number, @Req() req: AuthenticatedRequest) {
    await this.cancelRun.execute(id, actorOf(req));
    return this.queries.get(id);
  }

  @Get('runs/:id/jobs')
  @RequireRole('viewer')
  async jobs(
    @Param('id', new PositiveInt('id')) id: number,
    @Query('limit', boundedInt('limit', 1, 1000, 200)) limit: number,
    @Query('cursor') cursor: string | undefined,
  ) {
    let after: { position: number; index: number } | null = null;
    if (cursor) {
      const m = /^(\d{1,9})\.(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString());
      if (!m)
        throw invalid('INVALID_CURSOR', 'The cursor is not one this service gave out.', {
          fields: { cursor: 'is not valid' },
        });
      after = { position: Number(m[1]), index: Number(m[2]) };
    }
    const rows = await this.queries.jobs(id, after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(({ position: _p, ...job }) => job),
      nextCursor:
        rows.length > limit && last
          ? Buffer.from(`${last.position}.${last.index}`).toString('base64url')
          : null,
    };
  }

  @Get('runs/:id/jobs/:name/:index/log')
  @RequireRole('viewer')
  async log(
    @Param('id', new PositiveInt('id')) id: number,
    @Param('name') name: string,
    @Param('index', boundedInt('index', 0, 10_000_000, 0)) index: number,
    @Query('stream') stream: string | undefined,
    @Query('tail', boundedInt('tail', 1, 100_000, 0)) tail: number,
    @Res() res: Response,
  ) {
    const which = oneOf('stream', stream ?? 'stdout', ['stdout', 'stderr']) as 'stdout' | 'stderr';
    const text = await this.queries.jobLog(id, name, index, which, tail || null);
    res.type('text/plain; charset=utf-8').send(text);
  }

  @Get('requests/:id')
  @RequireRole('viewer')
  request(@Param('id', new PositiveInt('id')) id: number) {
    return this.queries.request(id);
  }
}
