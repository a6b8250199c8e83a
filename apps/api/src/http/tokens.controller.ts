import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Audited } from '@wfs/audit';
import { AuthenticatedRequest, Principal, RequireRole, TokenService } from '@wfs/auth';
import { CreateTokenBody } from './dto';
import { PositiveInt } from './validation';

@ApiTags('tokens')
@ApiBearerAuth()
@Controller('api/v1/tokens')
export class TokensController {
  constructor(@Inject(TokenService) private readonly tokens: TokenService) {}

  /** The token's clear text is in this response only. */
  @Post()
  @RequireRole('ops')
  // Only the new token's id: its clear text is in the response, never in the log.
  @Audited('token-create', {}, (t) => ({ details: { tokenId: t?.id } }))
  create(@Body() body: CreateTokenBody, @Req() req: AuthenticatedRequest) {
    return this.tokens.create(body.name, body.role, req.principal as Principal);
  }

  @Get()
  @RequireRole('ops')
  async list() {
    return { items: await this.tokens.list() };
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireRole('ops')
  @Audited('token-revoke')
  async revoke(@Param('id', new PositiveInt('id')) id: number) {
    await this.tokens.revoke(id);
  }
}
