import { Controller, Get, Inject, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ARCHIVE } from '@wfs/archive';
import type { Archive } from '@wfs/archive';
import { RequireRole } from '@wfs/auth';
import { notFound } from '@wfs/domain';

@ApiTags('archive')
@ApiBearerAuth()
@Controller('api/v1/archive')
export class ArchiveController {
  constructor(@Inject(ARCHIVE) private readonly archive: Archive) {}

  @Get('subjects/:subject')
  @RequireRole('viewer')
  subject(@Param('subject') subject: string) {
    return this.archive.subject(subject);
  }

  @Get('products/:name')
  @RequireRole('viewer')
  async product(@Param('name') name: string) {
    const product = await this.archive.product(name);
    if (!product) throw notFound('product', name);
    return product;
  }
}
