import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '@wfs/auth';
import { DASHBOARD_PAGE } from './dashboard-page';
import { DASHBOARD_SCRIPT } from './dashboard-script';
import { DASHBOARD_STYLE } from './dashboard-style';

/**
 * Script and style come only from this origin, as files: no 'unsafe-inline',
 * so markup that ever slipped into the page could not run or restyle it.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * `GET /`: the operations dashboard, with `/dashboard.js` and
 * `/dashboard.css`. The page itself holds no data and is served without a
 * token; everything it shows comes from the REST API with the token the user
 * gives it (kept in the tab's sessionStorage), so it sees and may do exactly
 * what that token's role allows.
 */
@ApiExcludeController()
@Controller()
export class DashboardController {
  @Get()
  @Public()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-cache')
  @Header('content-security-policy', DASHBOARD_CSP)
  @Header('x-content-type-options', 'nosniff')
  page(): string {
    return DASHBOARD_PAGE;
  }

  @Get('dashboard.js')
  @Public()
  @Header('content-type', 'text/javascript; charset=utf-8')
  @Header('cache-control', 'no-cache')
  @Header('x-content-type-options', 'nosniff')
  script(): string {
    return DASHBOARD_SCRIPT;
  }

  @Get('dashboard.css')
  @Public()
  @Header('content-type', 'text/css; charset=utf-8')
  @Header('cache-control', 'no-cache')
  @Header('x-content-type-options', 'nosniff')
  style(): string {
    return DASHBOARD_STYLE;
  }
}
