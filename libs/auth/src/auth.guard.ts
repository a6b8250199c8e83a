import { CanActivate, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Role } from '@wfs/config';
import { WfsError } from '@wfs/domain';
import { Principal, roleAllows, TokenService } from './tokens';

const ROLE_KEY = 'wfs:role';
const PUBLIC_KEY = 'wfs:public';

/** The least role a route needs. Every route has one or is @Public(). */
export const RequireRole = (role: Role) => SetMetadata(ROLE_KEY, role);
export const Public = () => SetMetadata(PUBLIC_KEY, true);

/**
 * Who may call a route, read as the guard reads it: 'public', the least role,
 * or null (a route without a role, which the guard refuses to everyone but
 * admin). The OpenAPI document states security from this.
 */
export function routeAccess(handler: object, controller: object): Role | 'public' | null {
  const pick = <T>(key: string): T | undefined =>
    (Reflect.getMetadata(key, handler) as T | undefined) ??
    (Reflect.getMetadata(key, controller) as T | undefined);
  if (pick<boolean>(PUBLIC_KEY)) return 'public';
  return pick<Role>(ROLE_KEY) ?? null;
}

export interface AuthenticatedRequest {
  headers: Record<string, string | string[] | undefined>;
  principal?: Principal;
  /** The matched route's handler, for those who act on a refusal made here (the audit log). */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  routeHandler?: Function;
}

/** Bearer token -> principal (401), then the route's role (403). Routes without a role are refused. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(TokenService) private readonly tokens: TokenService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const required = this.reflector.getAllAndOverride<Role | undefined>(ROLE_KEY, targets);
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    req.routeHandler = context.getHandler();
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    const principal = match ? await this.tokens.authenticate(match[1] as string) : null;
    if (!principal) {
      const given = header !== undefined;
      throw new WfsError(
        'unauthenticated',
        'UNAUTHENTICATED',
        `${given ? 'The token is not valid (unknown, revoked or malformed)' : 'No token was given'}: send a valid one as "Authorization: Bearer <token>" (the wfs CLI reads it from WFS_TOKEN).`,
        {
          token: given ? 'invalid' : 'missing',
          hint: 'REST: add the header "Authorization: Bearer <token>". CLI: export WFS_TOKEN=<token>. Tokens come from ops (POST /api/v1/tokens) or WFS_API_TOKENS.',
        },
      );
    }
    req.principal = principal;
    if (!required || !roleAllows(principal.role, required)) {
      throw new WfsError(
        'forbidden',
        'FORBIDDEN',
        `This call needs the ${required ?? 'admin'} role; the token has ${principal.role}.`,
        {
          required: required ?? 'admin',
          role: principal.role,
        },
      );
    }
    return true;
  }
}
