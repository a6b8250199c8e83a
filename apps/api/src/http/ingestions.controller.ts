import { Body, Controller, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Audited } from '@wfs/audit';
import { AuthenticatedRequest, RequireRole } from '@wfs/auth';
import { IngestRun } from '@wfs/operations';
import { RunQueries } from '@wfs/runs';
import { ApiOp } from './api-op';
import { BulkIngestBody } from './dto';
import { assertSafeJson } from './validation';
import { actorOf } from './workflows.controller';

/**
 * Bulk ingestion (CONTRACT 5.7): the VLASS manager ingests the quick-look
 * images of many runs at once after caching them. One ingestion run ingests
 * them all; each source run gets its own `ingested` event with its products.
 */
@ApiTags('operations')
@Controller('api/v1/ingestions')
export class IngestionsController {
  constructor(
    @Inject(RunQueries) private readonly queries: RunQueries,
    @Inject(IngestRun) private readonly ingestRun: IngestRun,
  ) {}

  @ApiOp({
    summary: 'Ingest many complete runs at once',
    description:
      "One ingestion run ingests 1-1,000 complete runs of one workflow; each run gets its own `ingested` event with its products. 400 when a run is named twice, the runs are of more than one workflow, or the workflow's ingestions take another QA flag; 404 when a run does not exist; 409 unless every run is `complete`, or when one's request is sealed or already ingesting.",
    responses: { 202: 'BulkIngestion' },
    errors: [404, 409],
  })
  @Post()
  @HttpCode(202)
  @RequireRole('da')
  @Audited('ingest', {}, (r) => ({
    details: {
      ingestionRunId: (r as { ingestionRun?: { id: number } } | undefined)?.ingestionRun?.id,
    },
  }))
  async ingest(@Body() body: BulkIngestBody, @Req() req: AuthenticatedRequest) {
    assertSafeJson(body, 'body');
    const { runIds, ingestionRunId } = await this.ingestRun.executeMany({
      runIds: body.runIds,
      qa: body.qa ?? null,
      analyst: body.analyst,
      comments: body.comments ?? null,
      correlationId: body.correlationId ?? null,
      actor: req.principal?.name ?? 'unknown',
      decidedBy: actorOf(req),
    });
    const runs = [];
    for (const id of runIds) runs.push(await this.queries.get(id));
    return { runs, ingestionRun: await this.queries.get(ingestionRunId) };
  }
}
