import { Controller, Get, Req } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AuthenticatedRequest, Principal, RequireRole, roleAllows } from '@wfs/auth';
import { ApiOp } from './api-op';

/** What a da (or service) token may do besides reading; ops and admin may do it too. */
const DA_ACTIONS = [
  'create',
  'submit',
  'cancel',
  'resume',
  'gate',
  'rerun',
  'qa',
  'ingest',
  'reject',
  'cleanup',
];
/** What ops (and admin) may do besides: tokens and the scheduling controls (CONTRACT 5.3, 5.5). */
const OPS_ACTIONS = ['tokens', 'hold', 'release', 'pause', 'unpause', 'limits', 'priority'];

/**
 * `GET /api/v1/me`: who the token is and what it may do, so a client (the
 * dashboard) offers only the actions its role is allowed. The API still
 * checks every call.
 */
@ApiTags('auth')
@Controller('api/v1/me')
export class MeController {
  @ApiOp({ summary: 'Who the token is and what it may do', responses: { 200: 'Me' } })
  @Get()
  @RequireRole('viewer')
  me(@Req() req: AuthenticatedRequest) {
    const { name, role } = req.principal as Principal;
    return {
      name,
      role,
      actions: [
        ...(roleAllows(role, 'da') ? DA_ACTIONS : []),
        ...(roleAllows(role, 'ops') ? OPS_ACTIONS : []),
      ],
    };
  }
}
