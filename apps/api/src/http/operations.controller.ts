import {
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  UploadedFiles,
  UseInterceptors,
} from '@nestjs/common';
import { AnyFilesInterceptor } from '@nestjs/platform-express';
import { ApiTags } from '@nestjs/swagger';
import { Audited } from '@wfs/audit';
import { AuthenticatedRequest, RequireRole } from '@wfs/auth';
import { invalid } from '@wfs/domain';
import {
  CleanupRun,
  IngestRun,
  QaStatus,
  RejectRun,
  RerunRun,
  ResumeRun,
  SetQa,
} from '@wfs/operations';
import { RunQueries } from '@wfs/runs';
import { ApiOp, RUN_ID } from './api-op';
import { INGEST_BODY, QA_BODY, REJECT_BODY, RERUN_BODY } from './operation-bodies';
import { assertSafeJson, PositiveInt } from './validation';
import { actorOf } from './workflows.controller';

type Fields = Record<string, unknown>;
type Part = { fieldname: string; originalname: string; buffer: Buffer };

const actor = (req: AuthenticatedRequest): string => req.principal?.name ?? 'unknown';

/** Reads a field that may come as JSON (typed) or as a multipart text part (a string). */
function text(
  body: Fields,
  field: string,
  opts: { required?: boolean; max?: number } = {},
): string | null {
  const v = body[field];
  if (v === undefined || v === null || v === '') {
    if (opts.required)
      throw invalid('INVALID_REQUEST', `${field} is required.`, {
        fields: { [field]: 'is required' },
      });
    return null;
  }
  if (typeof v !== 'string' || v.length > (opts.max ?? 200)) {
    throw invalid(
      'INVALID_REQUEST',
      `${field} must be a string of at most ${opts.max ?? 200} characters.`,
      { fields: { [field]: 'must be a string' } },
    );
  }
  return v;
}

function qaStatus(body: Fields, field: string, required: boolean): QaStatus | null {
  const v = text(body, field, { required });
  if (v !== null && !['pass', 'fail', 'null'].includes(v)) {
    throw invalid('INVALID_REQUEST', `${field} must be pass, fail or null.`, {
      fields: { [field]: 'must be pass, fail or null' },
    });
  }
  return v as QaStatus | null;
}

function only(body: Fields, allowed: string[]): void {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw invalid('INVALID_REQUEST', `Unknown field(s): ${unknown.join(', ')}.`, {
      fields: Object.fromEntries(unknown.map((u) => [u, 'is not a known field'])),
    });
  }
}

/** The file parts of a multipart body, each name once (two parts of one name would both claim it). */
function files(parts: Part[] | undefined): Array<{ name: string; data: Buffer }> {
  const seen = new Set<string>();
  for (const p of parts ?? []) {
    if (seen.has(p.fieldname))
      throw invalid('DUPLICATE_FILE', `The file ${p.fieldname} is given twice.`, {
        fields: { [p.fieldname]: 'is given more than once' },
      });
    seen.add(p.fieldname);
  }
  return (parts ?? []).map((p) => ({ name: p.fieldname, data: p.buffer }));
}

@ApiTags('operations')
@Controller('api/v1/runs/:id')
export class OperationsController {
  constructor(
    @Inject(RunQueries) private readonly queries: RunQueries,
    @Inject(RerunRun) private readonly rerunRun: RerunRun,
    @Inject(SetQa) private readonly setQa: SetQa,
    @Inject(IngestRun) private readonly ingestRun: IngestRun,
    @Inject(RejectRun) private readonly rejectRun: RejectRun,
    @Inject(CleanupRun) private readonly cleanupRun: CleanupRun,
    @Inject(ResumeRun) private readonly resumeRun: ResumeRun,
  ) {}

  /**
   * Multipart (file parts named by their file names, fields `parameters`,
   * `submit` and `fromJob`) or JSON `{parameters?, submit?, fromJob?}`.
   */
  @ApiOp({
    summary: 'Re-run: a new version of the run',
    description:
      'Files not given are carried over; the old run stays as it was. With `fromJob`, the completed ancestors of that job are reused. 409 when the request is sealed, or `INPUTS_GONE`.',
    path: { id: RUN_ID },
    body: RERUN_BODY,
    responses: { 201: 'Run' },
    errors: [409],
  })
  @Post('rerun')
  @RequireRole('da')
  @Audited('rerun', { runId: 'id' }, (run) => ({ details: { newRunId: run?.id } }))
  @UseInterceptors(AnyFilesInterceptor())
  async rerun(
    @Param('id', new PositiveInt('id')) id: number,
    @Body() body: Fields,
    @UploadedFiles() parts: Part[] | undefined,
    @Req() req: AuthenticatedRequest,
  ) {
    only(body ?? {}, ['parameters', 'submit', 'fromJob']);
    const fromJob = body?.fromJob;
    if (
      fromJob !== undefined &&
      fromJob !== null &&
      (typeof fromJob !== 'string' || fromJob === '')
    ) {
      throw invalid('INVALID_REQUEST', 'fromJob must be the name of a job.', {
        fields: { fromJob: 'must be a job name' },
      });
    }
    let parameters = body?.parameters;
    if (typeof parameters === 'string') {
      try {
        parameters = JSON.parse(parameters);
      } catch {
        throw invalid('INVALID_REQUEST', 'parameters must be a JSON object.', {
          fields: { parameters: 'is not JSON' },
        });
      }
      // A multipart field is parsed here, after the pipe's checks of the body: check it the same way.
      assertSafeJson(parameters, 'parameters');
    }
    if (
      parameters !== undefined &&
      (parameters === null || typeof parameters !== 'object' || Array.isArray(parameters))
    ) {
      throw invalid('INVALID_REQUEST', 'parameters must be a JSON object.', {
        fields: { parameters: 'must be an object' },
      });
    }
    const submit = body?.submit;
    if (
      submit !== undefined &&
      ![true, false, 'true', 'false'].includes(submit as string | boolean)
    ) {
      throw invalid('INVALID_REQUEST', 'submit must be true or false.', {
        fields: { submit: 'must be a boolean' },
      });
    }
    const runId = await this.rerunRun.execute({
      runId: id,
      files: files(parts),
      parameters: parameters as Record<string, unknown> | undefined,
      submit: submit === undefined ? true : submit === true || submit === 'true',
      actor: actor(req),
      fromJob: (fromJob as string | null | undefined) ?? null,
    });
    return this.queries.get(runId);
  }

  @ApiOp({
    summary: 'Set the QA flag of a complete run',
    description: '`pass` sets every other awaiting or passed version of the request to `fail`.',
    path: { id: RUN_ID },
    body: QA_BODY,
    responses: { 200: 'Run' },
    errors: [409],
  })
  @Post('qa')
  @HttpCode(200)
  @RequireRole('da')
  @Audited('qa', { runId: 'id' })
  async qa(
    @Param('id', new PositiveInt('id')) id: number,
    @Body() body: Fields,
    @Req() req: AuthenticatedRequest,
  ) {
    only(body, ['status', 'analyst', 'comments', 'score', 'standard']);
    const score = body.score;
    if (
      score !== undefined &&
      score !== null &&
      (typeof score !== 'number' || !Number.isFinite(score))
    ) {
      throw invalid('INVALID_REQUEST', 'score must be a number.', {
        fields: { score: 'must be a number' },
      });
    }
    await this.setQa.execute(id, {
      status: qaStatus(body, 'status', true) as QaStatus,
      analyst: text(body, 'analyst', { required: true }) as string,
      comments: text(body, 'comments', { max: 10_000 }),
      score: (score as number | undefined) ?? null,
      standard: text(body, 'standard'),
      actor: actorOf(req),
    });
    return this.queries.get(id);
  }

  @ApiOp({
    summary: 'List the QA decisions of a run',
    path: { id: RUN_ID },
    responses: { 200: 'QaDecisionList' },
  })
  @Get('qa')
  @RequireRole('viewer')
  async qaHistory(@Param('id', new PositiveInt('id')) id: number) {
    await this.queries.row(id);
    return { items: await this.setQa.history(id) };
  }

  /** Multipart or JSON: `qa`, `analyst`, `comments`; files qa_report.txt, flagtemplate.txt, flagtargetstemplate.txt. */
  @ApiOp({
    summary: 'Set QA and start the ingestion of a complete run',
    description: '409 unless `complete`, or when the request is sealed or already ingesting.',
    path: { id: RUN_ID },
    body: INGEST_BODY,
    responses: { 202: 'Ingestion' },
    errors: [409],
  })
  @Post('ingest')
  @HttpCode(202)
  @RequireRole('da')
  @Audited('ingest', { runId: 'id' }, (r) => ({
    details: { ingestionRunId: r?.ingestionRun?.id },
  }))
  @UseInterceptors(AnyFilesInterceptor())
  async ingest(
    @Param('id', new PositiveInt('id')) id: number,
    @Body() body: Fields,
    @UploadedFiles() parts: Part[] | undefined,
    @Req() req: AuthenticatedRequest,
  ) {
    only(body ?? {}, ['qa', 'analyst', 'comments']);
    const { runId, ingestionRunId } = await this.ingestRun.execute({
      runId: id,
      qa: qaStatus(body ?? {}, 'qa', false),
      analyst: text(body ?? {}, 'analyst', { required: true }) as string,
      comments: text(body ?? {}, 'comments', { max: 10_000 }),
      files: files(parts),
      actor: actor(req),
      decidedBy: actorOf(req),
    });
    const [run, ingestionRun] = await Promise.all([
      this.queries.get(runId),
      this.queries.get(ingestionRunId),
    ]);
    return { run, ingestionRun };
  }

  @ApiOp({
    summary: 'Reject a run: QA fail, subject Do Not Calibrate',
    description: 'The run directory is removed from the QA area.',
    path: { id: RUN_ID },
    body: REJECT_BODY,
    responses: { 200: 'Run' },
    errors: [409],
  })
  @Post('reject')
  @HttpCode(200)
  @RequireRole('da')
  @Audited('reject', { runId: 'id' })
  async reject(
    @Param('id', new PositiveInt('id')) id: number,
    @Body() body: Fields,
    @Req() req: AuthenticatedRequest,
  ) {
    only(body, ['analyst', 'comments']);
    await this.rejectRun.execute(
      id,
      text(body, 'analyst', { required: true }) as string,
      text(body, 'comments', { max: 10_000 }),
      actorOf(req),
    );
    return this.queries.get(id);
  }

  @ApiOp({
    summary: "Delete a run's directories once its products are archived",
    description:
      '409 `NOT_ARCHIVED` unless every product is in the archive with matching checksums.',
    path: { id: RUN_ID },
    query: {
      dryRun: {
        description: 'List what would be deleted, delete nothing',
        schema: { type: 'string', enum: ['true', 'false'], default: 'false' },
      },
    },
    responses: { 200: 'Cleanup' },
    errors: [409],
  })
  @Post('cleanup')
  @HttpCode(200)
  @RequireRole('da')
  @Audited('cleanup', { runId: 'id' })
  cleanup(
    @Param('id', new PositiveInt('id')) id: number,
    @Query('dryRun') dryRun: string | undefined,
    @Req() req: AuthenticatedRequest,
  ) {
    if (dryRun !== undefined && dryRun !== 'true' && dryRun !== 'false') {
      throw invalid('INVALID_REQUEST', 'dryRun must be true or false.', {
        fields: { dryRun: 'must be true or false' },
      });
    }
    return this.cleanupRun.execute(id, dryRun === 'true', actorOf(req));
  }

  /**
   * Resumes a failed or cancelled run in place (CONTRACT 5.4): what completed
   * is kept, what failed or never started runs again; 202 with the run.
   */
  @ApiOp({
    summary: 'Resume a failed or cancelled run in place',
    description: '409 for created, active or complete runs and sealed requests.',
    path: { id: RUN_ID },
    responses: { 202: 'Run' },
    errors: [409],
  })
  @Post('resume')
  @HttpCode(202)
  @RequireRole('da')
  @Audited('resume', { runId: 'id' })
  async resume(@Param('id', new PositiveInt('id')) id: number, @Req() req: AuthenticatedRequest) {
    await this.resumeRun.execute(id, actorOf(req));
    return this.queries.get(id);
  }
}
