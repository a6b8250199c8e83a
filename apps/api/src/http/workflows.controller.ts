import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Audited } from '@wfs/audit';
import { AuthenticatedRequest, RequireRole } from '@wfs/auth';
import { EventActor, WorkflowDefinition } from '@wfs/domain';
import { PauseView, SchedulingControls } from '@wfs/scheduling';
import { WorkflowCatalog } from '@wfs/workflows';
import { ApiOp, WORKFLOW_NAME } from './api-op';
import { PauseBody } from './dto';

/** The contract's Workflow object: what a caller needs to start a run, not the recipe's internals. */
export function workflowView(d: WorkflowDefinition, paused: PauseView | null = null) {
  return {
    name: d.name,
    version: d.version,
    description: d.description,
    subjectKind: d.subjectKind,
    telescope: d.telescope,
    parameters: d.parameters,
    inputs: d.inputs,
    requiresQa: d.requiresQa,
    priority: d.priority ?? 50,
    maxConcurrentJobs: d.maxConcurrentJobs ?? null,
    paused,
    jobs: d.jobs.map((j) => ({
      name: j.name,
      stage: j.stage,
      needs: j.needs,
      scatter: j.scatter !== null,
      requests: {
        cpus: j.requestCpus,
        memory: j.requestMemory,
        gpus: j.requestGpus ?? 0,
        labels: j.requirements?.labels ?? [],
      },
      concurrencyLimits: j.concurrencyLimits ?? [],
    })),
  };
}

export const actorOf = (req: AuthenticatedRequest): EventActor => ({
  name: req.principal?.name ?? 'unknown',
  role: req.principal?.role ?? 'unknown',
});

@ApiTags('workflows')
@Controller('api/v1/workflows')
export class WorkflowsController {
  constructor(
    @Inject(WorkflowCatalog) private readonly catalog: WorkflowCatalog,
    @Inject(SchedulingControls) private readonly scheduling: SchedulingControls,
  ) {}

  @ApiOp({ summary: 'List the workflow definitions', responses: { 200: 'WorkflowList' } })
  @Get()
  @RequireRole('viewer')
  async list() {
    const paused = await this.scheduling.paused();
    return { items: this.catalog.list().map((d) => workflowView(d, paused.get(d.name) ?? null)) };
  }

  @ApiOp({
    summary: 'Get a workflow definition',
    path: { name: WORKFLOW_NAME },
    responses: { 200: 'Workflow' },
  })
  @Get(':name')
  @RequireRole('viewer')
  async get(@Param('name') name: string) {
    const def = this.catalog.get(name);
    return workflowView(def, (await this.scheduling.paused()).get(name) ?? null);
  }

  /** No job of the workflow starts until unpaused; running ones go on (`workflow.<name>.paused`). */
  @ApiOp({
    summary: 'Pause a workflow: none of its jobs starts',
    path: { name: WORKFLOW_NAME },
    responses: { 200: 'Workflow' },
  })
  @Post(':name/pause')
  @HttpCode(200)
  @RequireRole('ops')
  @Audited('pause', { workflow: 'name' })
  async pause(
    @Param('name') name: string,
    @Body() body: PauseBody,
    @Req() req: AuthenticatedRequest,
  ) {
    const def = this.catalog.get(name);
    return workflowView(def, await this.scheduling.pause(name, body.reason, actorOf(req)));
  }

  @ApiOp({
    summary: 'Unpause a workflow',
    path: { name: WORKFLOW_NAME },
    responses: { 200: 'Workflow' },
  })
  @Post(':name/unpause')
  @HttpCode(200)
  @RequireRole('ops')
  @Audited('unpause', { workflow: 'name' })
  async unpause(@Param('name') name: string, @Req() req: AuthenticatedRequest) {
    const def = this.catalog.get(name);
    await this.scheduling.unpause(name, actorOf(req));
    return workflowView(def, null);
  }
}
