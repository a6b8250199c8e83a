import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber, NOW } from './columns';

/** A request: the versions (runs) of one workflow on one subject; sealed once ingested. */
@Entity({ name: 'requests' })
@Index('requests_open_subject', ['workflow', 'subject'], {
  unique: true,
  where: 'subject IS NOT NULL AND NOT sealed',
})
export class RequestEntity {
  @PrimaryColumn({
    type: 'bigint',
    generated: 'increment', // bigserial
    primaryKeyConstraintName: 'requests_pkey',
    transformer: bigintAsNumber,
  })
  id!: number;

  @Column({ type: 'text' })
  workflow!: string;

  @Column({ type: 'text', nullable: true })
  subject!: string | null;

  @Column({ type: 'boolean', default: false })
  sealed!: boolean;

  @Column({ name: 'created_at', type: 'timestamptz', default: NOW })
  createdAt!: Date;
}
