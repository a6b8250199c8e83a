import { Body, Controller, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Audited } from '@wfs/audit';
import { AuthenticatedRequest, RequireRole } from '@wfs/auth';
import { DecideGate, RunQueries } from '@wfs/runs';
import { GateApproveBody, GateRejectBody } from './dto';
import { PositiveInt } from './validation';
import { actorOf } from './workflows.controller';

/**
 * Checkpoints with people (CONTRACT 5.4): approve or reject a waiting gate.
 * Any token reaches here; who may decide is the gate's own (its `approvers`,
 * else da and above; admin always), said by the use case (403).
 */
@ApiTags('gates')
@ApiBearerAuth()
@Controller('api/v1/runs/:id/gates/:job')
export class GatesController {
  constructor(
    @Inject(DecideGate) private readonly gates: DecideGate,
    @Inject(RunQueries) private readonly queries: RunQueries,
  ) {}

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
