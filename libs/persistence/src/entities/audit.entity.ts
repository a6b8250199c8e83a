import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber, NOW } from './columns';

/**
 * The audit log (CONTRACT 5.6): one row per change request, accepted or
 * refused, and per 401/403. Append-only: a trigger refuses UPDATE, DELETE and
 * TRUNCATE (migrations/1764820000000-CreateAuditLog.ts); libs/audit writes it.
 * The indexes run newest first (id DESC), which TypeORM does not compare.
 */
@Entity({ name: 'audit' })
@Index('audit_run', ['targetRunId', 'id'])
@Index('audit_actor', ['actorToken', 'id'])
@Index('audit_action', ['action', 'id'])
@Index('audit_at', ['at'])
export class AuditEntity {
  @PrimaryColumn({
    type: 'bigint',
    generated: 'increment', // bigserial
    primaryKeyConstraintName: 'audit_pkey',
    transformer: bigintAsNumber,
  })
  id!: number;

  @Column({ type: 'timestamptz', default: NOW })
  at!: Date;

  @Column({ name: 'actor_token', type: 'text', nullable: true })
  actorToken!: string | null;

  @Column({ name: 'actor_role', type: 'text', nullable: true })
  actorRole!: string | null;

  @Column({ type: 'text' })
  action!: string;

  @Column({ name: 'target_run_id', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  targetRunId!: number | null;

  @Column({ name: 'target_workflow', type: 'text', nullable: true })
  targetWorkflow!: string | null;

  @Column({ name: 'target_job', type: 'text', nullable: true })
  targetJob!: string | null;

  @Column({ name: 'target_index', type: 'integer', nullable: true })
  targetIndex!: number | null;

  @Column({ name: 'outcome_status', type: 'integer' })
  outcomeStatus!: number;

  @Column({ name: 'outcome_code', type: 'text', nullable: true })
  outcomeCode!: string | null;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  details!: Record<string, unknown>;

  @Column({ name: 'remote_ip', type: 'text', nullable: true })
  remoteIp!: string | null;

  @Column({ name: 'remote_user_agent', type: 'text', nullable: true })
  remoteUserAgent!: string | null;

  @Column({ name: 'request_method', type: 'text' })
  requestMethod!: string;

  @Column({ name: 'request_path', type: 'text' })
  requestPath!: string;
}
