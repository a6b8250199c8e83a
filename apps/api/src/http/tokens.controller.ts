import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Audited } from '@wfs/audit';
import { AuthenticatedRequest, Principal, RequireRole, TokenService } from '@wfs/auth';
import { ApiOp, RUN_ID } from './api-op';
import { CreateTokenBody } from './dto';
import { PositiveInt } from './validation';

@ApiTags('tokens')
@Controller('api/v1/tokens')
export class TokensController {
  constructor(@Inject(TokenService) private readonly tokens: TokenService) {}

  /** The token's clear text is in this response only. */
  @ApiOp({
    summary: 'Create an API token',
    description: 'The clear text is in this response only.',
    responses: { 201: 'NewToken' },
    errors: [409],
  })
  @Post()
  @RequireRole('ops')
  // Only the new token's id: its clear text is in the response, never in the log.
  @Audited('token-create', {}, (t) => ({ details: { tokenId: t?.id } }))
  create(@Body() body: CreateTokenBody, @Req() req: AuthenticatedRequest) {
    return this.tokens.create(body.name, body.role, req.principal as Principal);
  }

  @ApiOp({ summary: 'List the API tokens (never their secrets)', responses: { 200: 'TokenList' } })
  @Get()
  @RequireRole('ops')
  async list() {
    return { items: await this.tokens.list() };
  }

  @ApiOp({
    summary: 'Revoke an API token',
    path: { id: { description: 'The token id', schema: RUN_ID.schema } },
    responses: { 204: 'none' },
  })
  @Delete(':id')
  @HttpCode(204)
  @RequireRole('ops')
  @Audited('token-revoke')
  async revoke(@Param('id', new PositiveInt('id')) id: number) {
    await this.tokens.revoke(id);
  }
}
