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
import { ApiHeader, ApiTags } from '@nestjs/swagger';
import { Audited } from '@wfs/audit';
import type { Response } from 'express';
import { AuthenticatedRequest, RequireRole } from '@wfs/auth';
import { invalid, RUN_STATES, QA_STATES, ARCHIVE_STATES } from '@wfs/domain';
import { CancelRun, CreateRun, RunFilter, RunQueries, SubmitRun } from '@wfs/runs';
import { ApiOp, CURSOR, JOB_INDEX, JOB_NAME, LIMIT, RUN_ID, WORKFLOW_NAME } from './api-op';
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
@Controller('api/v1')
export class RunsController {
  constructor(
    @Inject(CreateRun) private readonly createRun: CreateRun,
    @Inject(SubmitRun) private readonly submitRun: SubmitRun,
    @Inject(CancelRun) private readonly cancelRun: CancelRun,
    @Inject(RunQueries) private readonly queries: RunQueries,
  ) {}

  @ApiOp({
    summary: 'Create a run of a workflow',
    description:
      "`created`, or `submitted` with `submit: true`. `parameters` are validated against the workflow's schema. With an Idempotency-Key, the same key and body answer the same run (200).",
    path: { name: WORKFLOW_NAME },
    responses: {
      201: 'Run',
      200: { answer: 'Run', description: 'The run this Idempotency-Key created before' },
    },
    errors: [409],
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: '1-200 visible ASCII characters; the same key with another body is 409',
  })
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

  @ApiOp({
    summary: 'List runs, newest first',
    query: {
      workflow: { description: 'Workflow name', schema: { type: 'string' } },
      state: { description: 'Run state', schema: { type: 'string', enum: [...RUN_STATES] } },
      qaState: { description: 'QA state', schema: { type: 'string', enum: [...QA_STATES] } },
      archiveState: {
        description: 'Archive state',
        schema: { type: 'string', enum: [...ARCHIVE_STATES] },
      },
      subject: { description: 'Subject, exactly', schema: { type: 'string' } },
      correlationId: { description: "The caller's correlation id", schema: { type: 'string' } },
      requestId: {
        description: 'Request id',
        schema: { type: 'integer', format: 'int64', minimum: 1 },
      },
      limit: LIMIT(500, 50),
      cursor: CURSOR,
    },
    responses: { 200: 'RunPage' },
  })
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

  @ApiOp({ summary: 'Get a run', path: { id: RUN_ID }, responses: { 200: 'Run' } })
  @Get('runs/:id')
  @RequireRole('viewer')
  get(@Param('id', new PositiveInt('id')) id: number) {
    return this.queries.get(id);
  }

  @ApiOp({
    summary: 'Submit a created run',
    description: '409 unless `created`; 400 when a required input file is missing.',
    path: { id: RUN_ID },
    responses: { 202: 'Run' },
    errors: [409],
  })
  @Post('runs/:id/submit')
  @HttpCode(202)
  @RequireRole('da')
  @Audited('submit', { runId: 'id' })
  async submit(@Param('id', new PositiveInt('id')) id: number) {
    await this.submitRun.execute(id);
    return this.queries.get(id);
  }

  @ApiOp({
    summary: 'Cancel a run',
    description: 'Running jobs are stopped; 409 when the run has finished.',
    path: { id: RUN_ID },
    responses: { 202: 'Run' },
    errors: [409],
  })
  @Post('runs/:id/cancel')
  @HttpCode(202)
  @RequireRole('da')
  @Audited('cancel', { runId: 'id' })
  async cancel(@Param('id', new PositiveInt('id')) id: number, @Req() req: AuthenticatedRequest) {
    await this.cancelRun.execute(id, actorOf(req));
    return this.queries.get(id);
  }

  @ApiOp({
    summary: "List a run's job instances in DAG order",
    path: { id: RUN_ID },
    query: { limit: LIMIT(1000, 200), cursor: CURSOR },
    responses: { 200: 'JobPage' },
  })
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

  @ApiOp({
    summary: "Read a job instance's log",
    description: 'Empty before the job ran.',
    path: { id: RUN_ID, name: JOB_NAME, index: JOB_INDEX },
    query: {
      stream: {
        description: 'Which log (default stdout)',
        schema: { type: 'string', enum: ['stdout', 'stderr'], default: 'stdout' },
      },
      tail: {
        description: 'Only the last lines (default: all)',
        schema: { type: 'integer', minimum: 1, maximum: 100_000 },
      },
    },
    responses: { 200: 'text' },
    // A log file replaced by a link is refused (UNSAFE_PATH).
    errors: [409],
  })
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

  @ApiOp({
    summary: 'Get a request and its runs (versions)',
    path: { id: { description: 'The request id', schema: RUN_ID.schema } },
    responses: { 200: 'Request' },
  })
  @Get('requests/:id')
  @RequireRole('viewer')
  request(@Param('id', new PositiveInt('id')) id: number) {
    return this.queries.request(id);
  }
}
