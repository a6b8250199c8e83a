import { Controller, Get, Inject, Param } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ARCHIVE } from '@wfs/archive';
import type { Archive } from '@wfs/archive';
import { RequireRole } from '@wfs/auth';
import { notFound } from '@wfs/domain';
import { ApiOp } from './api-op';

@ApiTags('archive')
@Controller('api/v1/archive')
export class ArchiveController {
  constructor(@Inject(ARCHIVE) private readonly archive: Archive) {}

  @ApiOp({
    summary: "Get a subject's calibration status and products",
    path: {
      subject: {
        description: 'The subject, percent-encoded (uid%3A%2F%2FA001%2FX1284%2FX2c1)',
        schema: { type: 'string' },
      },
    },
    responses: { 200: 'Subject' },
  })
  @Get('subjects/:subject')
  @RequireRole('viewer')
  subject(@Param('subject') subject: string) {
    return this.archive.subject(subject);
  }

  @ApiOp({
    summary: 'Get an archived product',
    path: { name: { description: 'The product name', schema: { type: 'string' } } },
    responses: { 200: 'Product' },
  })
  @Get('products/:name')
  @RequireRole('viewer')
  async product(@Param('name') name: string) {
    const product = await this.archive.product(name);
    if (!product) throw notFound('product', name);
    return product;
  }
}
