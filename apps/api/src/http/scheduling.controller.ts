import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Patch,
  Post,
  Put,
  Req,
} from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Audited } from '@wfs/audit';
import { AuthenticatedRequest, RequireRole } from '@wfs/auth';
import { HoldJobs, RunQueries, SetPriority } from '@wfs/runs';
import { SchedulingControls } from '@wfs/scheduling';
import { ApiOp, JOB_INDEX, JOB_NAME, RUN_ID } from './api-op';
import { HoldBody, LimitBody, PatchRunBody } from './dto';
import { boundedInt, PositiveInt } from './validation';
import { actorOf } from './workflows.controller';

const LIMIT_NAME = {
  description: 'The limit name: ^[a-z][a-z0-9_.-]{0,63}$',
  schema: { type: 'string' as const },
};

/** Scheduling controls (CONTRACT 5.3, 5.5): workers, limits, holds, priority. */
@ApiTags('scheduling')
@Controller('api/v1')
export class SchedulingController {
  constructor(
    @Inject(SchedulingControls) private readonly scheduling: SchedulingControls,
    @Inject(HoldJobs) private readonly holds: HoldJobs,
    @Inject(SetPriority) private readonly priority: SetPriority,
    @Inject(RunQueries) private readonly queries: RunQueries,
  ) {}

  @ApiOp({ summary: 'List the workers and what they use', responses: { 200: 'WorkerList' } })
  @Get('workers')
  @RequireRole('viewer')
  async workers() {
    return { items: await this.scheduling.workers() };
  }

  @ApiOp({ summary: 'List the named concurrency limits', responses: { 200: 'LimitList' } })
  @Get('limits')
  @RequireRole('viewer')
  async limits() {
    return { items: await this.scheduling.limits() };
  }

  @ApiOp({
    summary: 'Set a named concurrency limit',
    path: { name: LIMIT_NAME },
    responses: { 200: 'Limit' },
  })
  @Put('limits/:name')
  @RequireRole('ops')
  @Audited('limit-set')
  setLimit(@Param('name') name: string, @Body() body: LimitBody) {
    return this.scheduling.setLimit(name, body.max);
  }

  @ApiOp({
    summary: 'Remove a named concurrency limit (unlimited again)',
    path: { name: LIMIT_NAME },
    responses: { 204: 'none' },
  })
  @Delete('limits/:name')
  @HttpCode(204)
  @RequireRole('ops')
  @Audited('limit-delete')
  async deleteLimit(@Param('name') name: string) {
    await this.scheduling.deleteLimit(name);
  }

  @ApiOp({
    summary: "Change a run's priority",
    description: 'Applies to the jobs not yet started; 409 once the run has finished.',
    path: { id: RUN_ID },
    responses: { 200: 'Run' },
    errors: [409],
  })
  @Patch('runs/:id')
  @RequireRole('ops')
  @Audited('priority', { runId: 'id' })
  async patchRun(@Param('id', new PositiveInt('id')) id: number, @Body() body: PatchRunBody) {
    await this.priority.execute(id, body.priority);
    return this.queries.get(id);
  }

  /** An idle instance is held; a running one is stopped and held (its attempt not a failure). */
  @ApiOp({
    summary: 'Hold a job instance',
    path: { id: RUN_ID, name: JOB_NAME, index: JOB_INDEX },
    responses: { 200: 'Job' },
    errors: [409],
  })
  @Post('runs/:id/jobs/:name/:index/hold')
  @HttpCode(200)
  @RequireRole('ops')
  @Audited('hold', { runId: 'id', job: 'name', index: 'index' })
  async hold(
    @Param('id', new PositiveInt('id')) id: number,
    @Param('name') name: string,
    @Param('index', boundedInt('index', 0, 10_000_000, 0)) index: number,
    @Body() body: HoldBody,
    @Req() req: AuthenticatedRequest,
  ) {
    await this.holds.hold({ runId: id, name, index }, body.reason, actorOf(req));
    return this.queries.jobView(id, name, index);
  }

  @ApiOp({
    summary: 'Release a held job instance',
    path: { id: RUN_ID, name: JOB_NAME, index: JOB_INDEX },
    responses: { 200: 'Job' },
    errors: [409],
  })
  @Post('runs/:id/jobs/:name/:index/release')
  @HttpCode(200)
  @RequireRole('ops')
  @Audited('release', { runId: 'id', job: 'name', index: 'index' })
  async release(
    @Param('id', new PositiveInt('id')) id: number,
    @Param('name') name: string,
    @Param('index', boundedInt('index', 0, 10_000_000, 0)) index: number,
    @Req() req: AuthenticatedRequest,
  ) {
    await this.holds.release({ runId: id, name, index }, actorOf(req));
    return this.queries.jobView(id, name, index);
  }
}
