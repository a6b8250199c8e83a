import { Column, Entity, PrimaryColumn } from 'typeorm';
import { NOW } from './columns';

/** Every recipe a run used, by the digest of its definition (migration CreateCoreTables). */
@Entity({ name: 'workflow_definitions' })
export class WorkflowDefinitionEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'workflow_definitions_pkey' })
  digest!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'integer' })
  version!: number;

  @Column({ type: 'jsonb' })
  definition!: unknown;

  @Column({ name: 'loaded_at', type: 'timestamptz', default: NOW })
  loadedAt!: Date;
}
