import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { ROLES } from '@wfs/config';
import type { Role } from '@wfs/config';

export class CreateRunBody {
  @ApiPropertyOptional({
    description:
      'EB id, MOUS UID (canonical form uid://A001/X1284/X2c1) or survey job id: 1-200 printable characters (required unless the workflow has subjectKind none)',
    minLength: 1,
    maxLength: 200,
  })
  @IsOptional()
  @IsString()
  subject?: string;

  @ApiPropertyOptional({
    description: "Validated against the workflow's JSON Schema",
    type: 'object',
    additionalProperties: true,
  })
  @IsOptional()
  @IsObject()
  parameters?: Record<string, unknown>;

  @ApiPropertyOptional({ description: "The caller's own id for this run, echoed in every event" })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  correlationId?: string;

  @ApiPropertyOptional({ description: 'Absolute path inside one of WFS_RESULTS_ROOTS' })
  @IsOptional()
  @IsString()
  @MaxLength(4096)
  resultsDir?: string;

  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @IsBoolean()
  submit?: boolean;

  @ApiPropertyOptional({
    description: "0-100: a higher priority's jobs start first (default: the workflow's, else 50)",
    minimum: 0,
    maximum: 100,
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  priority?: number;
}

export class PatchRunBody {
  @ApiProperty({
    description: '0-100; applies to the jobs not yet started',
    minimum: 0,
    maximum: 100,
  })
  @IsInt()
  @Min(0)
  @Max(100)
  priority!: number;
}

export class HoldBody {
  @ApiProperty({
    description: 'Why (shown as statusReason "held_by_operator: <reason>")',
    maxLength: 500,
  })
  @IsString()
  @MinLength(1)
  @MaxLength(500)
  reason!: string;
}

export class PauseBody {
  @ApiProperty({ maxLength: 500 })
  @IsString()
  @MinLength(1)
  @MaxLength(500)
  reason!: string;
}

export class LimitBody {
  @ApiProperty({
    description: 'Jobs taking this limit that may run at once (0 stops new starts)',
    minimum: 0,
  })
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  max!: number;
}

export class CreateTokenBody {
  @ApiProperty()
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/)
  name!: string;

  @ApiProperty({ enum: ROLES })
  @IsIn(ROLES)
  role!: Role;
}

export class GateApproveBody {
  @ApiPropertyOptional({ description: 'Why (shown in gate-approved)', maxLength: 10_000 })
  @IsOptional()
  @IsString()
  @MaxLength(10_000)
  comment?: string;

  @ApiPropertyOptional({
    description:
      "Merged over the run's parameters for every job not yet started; validated against the workflow's schema (400, nothing changed)",
    type: 'object',
    additionalProperties: true,
  })
  @IsOptional()
  @IsObject()
  parameters?: Record<string, unknown>;
}

export class GateRejectBody {
  @ApiPropertyOptional({
    description: 'Why (shown in gate-rejected and the run`s error)',
    maxLength: 10_000,
  })
  @IsOptional()
  @IsString()
  @MaxLength(10_000)
  comment?: string;
}

/** POST /api/v1/ingestions (CONTRACT 5.7): one ingestion run for many complete runs of one workflow. */
export class BulkIngestBody {
  @ApiProperty({
    description: 'The runs to ingest: 1-1,000 complete runs of one workflow',
    type: [Number],
    minItems: 1,
    maxItems: 1000,
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsInt({ each: true })
  @Min(1, { each: true })
  runIds!: number[];

  @ApiPropertyOptional({
    description: "The SRDP QA flag (required unless the workflow's ingestions record pass)",
    enum: ['pass', 'fail', 'null'],
  })
  @IsOptional()
  @IsIn(['pass', 'fail', 'null'])
  qa?: 'pass' | 'fail' | 'null';

  @ApiProperty({ description: 'Who ingests them', minLength: 1, maxLength: 200 })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  analyst!: string;

  @ApiPropertyOptional({ maxLength: 10000 })
  @IsOptional()
  @IsString()
  @MaxLength(10000)
  comments?: string;

  @ApiPropertyOptional({
    description:
      "The caller's id for the ingestion run (e.g. the manager's token), echoed in its events",
    maxLength: 200,
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  correlationId?: string;
}
