import { Body, Controller, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { AuthenticatedRequest, RequireRole } from '@wfs/auth';
import { IngestRun } from '@wfs/operations';
import { RunQueries } from '@wfs/runs';
import { BulkIngestBody } from './dto';
import { assertSafeJson } from './validation';

/**
 * Bulk ingestion (CONTRACT 5.7): the VLASS manager ingests the quick-look
 * images of many runs at once after caching them. One ingestion run ingests
 * them all; each source run gets its own `ingested` event with its products.
 */
@ApiTags('operations')
@ApiBearerAuth()
@Controller('api/v1/ingestions')
export class IngestionsController {
  constructor(
    @Inject(RunQueries) private readonly queries: RunQueries,
    @Inject(IngestRun) private readonly ingestRun: IngestRun,
  ) {}

  @Post()
  @HttpCode(202)
  @RequireRole('da')
  async ingest(@Body() body: BulkIngestBody, @Req() req: AuthenticatedRequest) {
    assertSafeJson(body, 'body');
    const { runIds, ingestionRunId } = await this.ingestRun.executeMany({
      runIds: body.runIds,
      qa: body.qa ?? null,
      analyst: body.analyst,
      comments: body.comments ?? null,
      correlationId: body.correlationId ?? null,
      actor: req.principal?.name ?? 'unknown',
    });
    const runs = [];
    for (const id of runIds) runs.push(await this.queries.get(id));
    return { runs, ingestionRun: await this.queries.get(ingestionRunId) };
  }
}
