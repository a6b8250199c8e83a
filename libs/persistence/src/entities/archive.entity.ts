import {
  Check,
  Column,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  OneToMany,
  PrimaryColumn,
} from 'typeorm';
import { bigintAsNumber, NOW } from './columns';

/**
 * The embedded archive's tables (LocalArchive). Source and ingestion run ids
 * have no foreign key: the archive is a system of its own, beside the runs.
 */
@Entity({ name: 'archive_products' })
@Check('archive_products_qa_flag_check', "qa_flag IN ('pass', 'fail', 'null')")
@Index('archive_products_source_run', ['sourceRunId'])
@Index('archive_products_subject', ['subject', 'ingestedAt'])
export class ArchiveProductEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'archive_products_pkey' })
  name!: string;

  @Column({ type: 'text' })
  kind!: string;

  @Column({ type: 'text' })
  subject!: string;

  @Column({ name: 'qa_flag', type: 'text', nullable: true })
  qaFlag!: 'pass' | 'fail' | 'null' | null;

  @Column({ name: 'source_run_id', type: 'bigint', transformer: bigintAsNumber })
  sourceRunId!: number;

  @Column({ name: 'ingestion_run_id', type: 'bigint', transformer: bigintAsNumber })
  ingestionRunId!: number;

  @Column({ name: 'ingested_at', type: 'timestamptz', default: NOW })
  ingestedAt!: Date;

  @OneToMany(() => ArchiveFileEntity, (f) => f.product)
  files?: ArchiveFileEntity[];
}

/** A file of a product, one row per role it has. */
@Entity({ name: 'archive_files' })
@Check('archive_files_size_check', 'size >= 0')
@Check('archive_files_sha256_check', "sha256 ~ '^[0-9a-f]{64}$'")
@Check(
  'archive_files_role_check',
  "role IN ('primary', 'ancillary', 'calibration', 'weblog', 'flags', 'qa_report')",
)
@Index('archive_files_sha256', ['sha256'])
export class ArchiveFileEntity {
  @PrimaryColumn({
    name: 'product_name',
    type: 'text',
    primaryKeyConstraintName: 'archive_files_pkey',
  })
  productName!: string;

  @ManyToOne(() => ArchiveProductEntity, (p) => p.files, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'product_name', foreignKeyConstraintName: 'archive_files_product_name_fkey' })
  product?: ArchiveProductEntity;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'archive_files_pkey' })
  path!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  size!: number;

  @Column({ type: 'text' })
  sha256!: string;

  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'archive_files_pkey' })
  role!: string;
}

/** A subject's calibration status in the archive. */
@Entity({ name: 'archive_subjects' })
@Check(
  'archive_subjects_calibration_status_check',
  "calibration_status IN ('Calibrating', 'Calibrated', 'Do Not Calibrate', 'Unknown')",
)
export class ArchiveSubjectEntity {
  @PrimaryColumn({ type: 'text', primaryKeyConstraintName: 'archive_subjects_pkey' })
  subject!: string;

  @Column({ name: 'calibration_status', type: 'text' })
  calibrationStatus!: string;

  @Column({ name: 'updated_at', type: 'timestamptz', default: NOW })
  updatedAt!: Date;
}
