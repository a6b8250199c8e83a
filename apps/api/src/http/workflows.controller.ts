import { Controller, Get, Inject, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { RequireRole } from '@wfs/auth';
import { WorkflowDefinition } from '@wfs/domain';
import { WorkflowCatalog } from '@wfs/workflows';

/** The contract's Workflow object: what a caller needs to start a run, not the recipe's internals. */
export function workflowView(d: WorkflowDefinition) {
  return {
    name: d.name,
    version: d.version,
    description: d.description,
    subjectKind: d.subjectKind,
    telescope: d.telescope,
    parameters: d.parameters,
    inputs: d.inputs,
    requiresQa: d.requiresQa,
    jobs: d.jobs.map((j) => ({
      name: j.name,
      stage: j.stage,
      needs: j.needs,
      scatter: j.scatter !== null,
    })),
  };
}

@ApiTags('workflows')
@ApiBearerAuth()
@Controller('api/v1/workflows')
export class WorkflowsController {
  constructor(@Inject(WorkflowCatalog) private readonly catalog: WorkflowCatalog) {}

  @Get()
  @RequireRole('viewer')
  list() {
    return { items: this.catalog.list().map(workflowView) };
  }

  @Get(':name')
  @RequireRole('viewer')
  get(@Param('name') name: string) {
    return workflowView(this.catalog.get(name));
  }
}
