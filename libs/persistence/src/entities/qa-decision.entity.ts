import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { bigintAsNumber, NOW } from './columns';
import { RunEntity } from './run.entity';

/** Every QA decision on a run, kept as history. */
@Entity({ name: 'qa_decisions' })
@Index('qa_decisions_run', ['runId', 'id'])
export class QaDecisionEntity {
  @PrimaryColumn({
    type: 'bigint',
    generated: 'increment', // bigserial
    primaryKeyConstraintName: 'qa_decisions_pkey',
    transformer: bigintAsNumber,
  })
  id!: number;

  @Column({ name: 'run_id', type: 'bigint', transformer: bigintAsNumber })
  runId!: number;

  @ManyToOne(() => RunEntity)
  @JoinColumn({ name: 'run_id', foreignKeyConstraintName: 'qa_decisions_run_id_fkey' })
  run?: RunEntity;

  @Column({ type: 'text' })
  status!: string;

  @Column({ type: 'text' })
  analyst!: string;

  @Column({ type: 'text' })
  standard!: string;

  @Column({ type: 'double precision', nullable: true })
  score!: number | null;

  @Column({ type: 'text', nullable: true })
  comments!: string | null;

  @Column({ type: 'text' })
  reason!: string;

  @Column({ name: 'decided_at', type: 'timestamptz', default: NOW })
  decidedAt!: Date;
}
