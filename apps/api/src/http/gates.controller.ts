import { Body, Controller, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Audited } from '@wfs/audit';
import { AuthenticatedRequest, RequireRole } from '@wfs/auth';
import { DecideGate, RunQueries } from '@wfs/runs';
import { ApiOp, JOB_NAME, RUN_ID } from './api-op';
import { GateApproveBody, GateRejectBody } from './dto';
import { PositiveInt } from './validation';
import { actorOf } from './workflows.controller';

const GATE = { ...JOB_NAME, description: "The gate job's name" };

/**
 * Checkpoints with people (CONTRACT 5.4): approve or reject a waiting gate.
 * Any token reaches here; who may decide is the gate's own (its `approvers`,
 * else da and above; admin always), said by the use case (403).
 */
@ApiTags('gates')
@Controller('api/v1/runs/:id/gates/:job')
export class GatesController {
  constructor(
    @Inject(DecideGate) private readonly gates: DecideGate,
    @Inject(RunQueries) private readonly queries: RunQueries,
  ) {}

  @ApiOp({
    summary: 'Approve a waiting gate',
    description:
      "`parameters` are merged over the run's for every job not yet started. Who may decide is the gate's own (`approvers`, else da and above).",
    path: { id: RUN_ID, job: GATE },
    responses: { 200: 'Run' },
    errors: [409],
  })
  @Post('approve')
  @HttpCode(200)
  @RequireRole('viewer')
  @Audited('gate-approve', { runId: 'id', job: 'job' })
  async approve(
    @Param('id', new PositiveInt('id')) id: number,
    @Param('job') job: string,
    @Body() body: GateApproveBody,
    @Req() req: AuthenticatedRequest,
  ) {
    await this.gates.approve(id, job, actorOf(req), {
      comment: body.comment ?? null,
      ...(body.parameters ? { parameters: body.parameters } : {}),
    });
    return this.queries.get(id);
  }

  @ApiOp({
    summary: 'Reject a waiting gate: the run fails (GATE_REJECTED)',
    path: { id: RUN_ID, job: GATE },
    responses: { 200: 'Run' },
    errors: [409],
  })
  @Post('reject')
  @HttpCode(200)
  @RequireRole('viewer')
  @Audited('gate-reject', { runId: 'id', job: 'job' })
  async reject(
    @Param('id', new PositiveInt('id')) id: number,
    @Param('job') job: string,
    @Body() body: GateRejectBody,
    @Req() req: AuthenticatedRequest,
  ) {
    await this.gates.reject(id, job, actorOf(req), body.comment ?? null);
    return this.queries.get(id);
  }
}
