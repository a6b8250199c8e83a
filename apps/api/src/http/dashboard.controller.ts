import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '@wfs/auth';
import { DASHBOARD_PAGE } from './dashboard-page';

/**
 * `GET /`: the operations dashboard. The page itself holds no data and is
 * served without a token; everything it shows comes from the REST API with
 * the token the user gives it (kept in the tab's sessionStorage), so it sees
 * and may do exactly what that token's role allows.
 */
@ApiExcludeController()
@Controller()
export class DashboardController {
  @Get()
  @Public()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-cache')
  @Header(
    'content-security-policy',
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  )
  page(): string {
    return DASHBOARD_PAGE;
  }
}
