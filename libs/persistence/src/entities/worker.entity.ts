import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber, NOW } from './columns';

/** A worker process: what it offers (its partitionable slot) and its heartbeat. */
@Entity({ name: 'workers' })
export class WorkerEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'workers_pkey' })
  id!: string;

  @Column({ type: 'text' })
  host!: string;

  @Column({ type: 'integer' })
  pid!: number;

  @Column({ name: 'started_at', type: 'timestamptz', default: NOW })
  startedAt!: Date;

  @Column({ name: 'last_seen', type: 'timestamptz', default: NOW })
  lastSeen!: Date;

  @Column({ type: 'text', default: 'local' })
  executor!: string;

  @Column({ type: 'integer', default: 1 })
  cpus!: number;

  @Column({ name: 'memory_mb', type: 'bigint', default: 0, transformer: bigintAsNumber })
  memoryMb!: number;

  @Column({ type: 'integer', default: 0 })
  gpus!: number;

  @Column({ type: 'text', array: true, default: '{}' })
  labels!: string[];

  @Column({ type: 'integer', default: 8 })
  slots!: number;

  @Column({ type: 'text', default: '' })
  queue!: string;
}
