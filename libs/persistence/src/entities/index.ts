import { ApiTokenEntity } from './api-token.entity';
import { AuditEntity } from './audit.entity';
import { MetricCounterEntity, MetricJobDurationEntity } from './metric.entity';
import { ArchiveFileEntity, ArchiveProductEntity, ArchiveSubjectEntity } from './archive.entity';
import { EventEntity, WorkflowEventEntity } from './event.entity';
import { IdempotencyKeyEntity } from './idempotency-key.entity';
import { JobEntity, JobGroupEntity } from './job.entity';
import { QaDecisionEntity } from './qa-decision.entity';
import { RequestEntity } from './request.entity';
import { RunEntity, RunFileEntity } from './run.entity';
import { ConcurrencyLimitEntity, WorkflowPauseEntity } from './scheduling.entity';
import { WorkerEntity } from './worker.entity';
import { WorkflowDefinitionEntity } from './workflow-definition.entity';

export * from './api-token.entity';
export * from './audit.entity';
export * from './metric.entity';
export * from './archive.entity';
export * from './event.entity';
export * from './idempotency-key.entity';
export * from './job.entity';
export * from './qa-decision.entity';
export * from './request.entity';
export * from './run.entity';
export * from './scheduling.entity';
export * from './worker.entity';
export * from './workflow-definition.entity';

/**
 * Every table the migrations create, as an entity. The migrations stay the
 * schema's truth; test/schema-entities.test.ts fails when these drift from them.
 */
export const ENTITIES = [
  WorkflowDefinitionEntity,
  RequestEntity,
  RunEntity,
  RunFileEntity,
  JobGroupEntity,
  JobEntity,
  EventEntity,
  WorkflowEventEntity,
  IdempotencyKeyEntity,
  ApiTokenEntity,
  WorkerEntity,
  QaDecisionEntity,
  ArchiveProductEntity,
  ArchiveFileEntity,
  ArchiveSubjectEntity,
  WorkflowPauseEntity,
  ConcurrencyLimitEntity,
  AuditEntity,
  MetricCounterEntity,
  MetricJobDurationEntity,
];
