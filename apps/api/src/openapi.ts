import type { INestApplication, Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type {
  OperationObject,
  ParameterObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { routeAccess } from '@wfs/auth';
import { API_CONTROLLERS } from './api.module';
import { API_SCHEMAS, ref } from './http/api-schemas';

/** Answers in the error envelope that every route of a kind may give, whatever it declares. */
const COMMON_ERRORS: Record<number, string> = {
  400: 'Invalid input: `details.fields` names each bad field',
  401: 'No valid token',
  403: "The token's role may not do this",
  404: 'No such id or name',
  413: 'The body is too large',
  415: 'The body is not of the type this call takes',
  500: 'A fault of the service (logged)',
  503: 'A store is not reachable right now; try again shortly',
};

const BODY_METHODS = new Set(['post', 'put', 'patch']);

/** operationId (Nest's default, Controller_method) -> who may call it, from the guard's own metadata. */
function accessByOperation(controllers: Type[]): Map<string, ReturnType<typeof routeAccess>> {
  const out = new Map<string, ReturnType<typeof routeAccess>>();
  for (const controller of controllers) {
    const proto = controller.prototype as Record<string, unknown>;
    for (const key of Object.getOwnPropertyNames(proto)) {
      const handler = proto[key];
      if (typeof handler !== 'function' || key === 'constructor') continue;
      if (Reflect.getMetadata(METHOD_METADATA, handler) === undefined) continue;
      if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
      out.set(`${controller.name}_${key}`, routeAccess(handler, controller));
    }
  }
  return out;
}

/**
 * The API's OpenAPI document: Nest's reading of the routes and their `@ApiOp`
 * declarations, the component schemas, and what follows from each route's
 * guard and kind (its security, the errors every such route may give).
 * `problems` names each route that is not fully declared; `npm run check`
 * fails on them (scripts/openapi.mjs), the API only logs them.
 */
export function buildOpenApiDocument(app: INestApplication): {
  document: OpenAPIObject;
  problems: string[];
} {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('wfs')
      .setDescription(
        'Workflow service for radio-astronomy data processing (contract v1). Errors are always the `Error` envelope.',
      )
      .setVersion('1')
      .setLicense('MIT', 'https://opensource.org/license/mit')
      .addServer('/', 'This service')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API token' }, 'bearer')
      .build(),
  );
  document.components = {
    ...document.components,
    schemas: { ...document.components?.schemas, ...API_SCHEMAS },
  };
  const access = accessByOperation(API_CONTROLLERS);
  const problems: string[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['get', 'put', 'post', 'patch', 'delete'] as const) {
      const op: OperationObject | undefined = item[method];
      if (!op) continue;
      const name = `${method.toUpperCase()} ${path}`;
      const who = access.get(op.operationId ?? '');
      if (who === undefined) problems.push(`${name}: not a route of API_CONTROLLERS`);
      if (!op.summary) problems.push(`${name}: no @ApiOp summary`);
      const parameters = (op.parameters ?? []) as ParameterObject[];
      for (const p of parameters.filter((p) => p.in === 'path' && !p.description))
        problems.push(`${name}: path parameter ${p.name} is not declared in @ApiOp`);
      if (!Object.keys(op.responses).some((s) => /^2/.test(s)))
        problems.push(`${name}: no success response declared`);

      const common: number[] = [500, 503];
      if (who === 'public') op.security = [];
      else {
        op.security = [{ bearer: [] }];
        common.push(401, 403);
        if (who)
          op.description = [op.description, `Needs the \`${who}\` role or above.`]
            .filter(Boolean)
            .join('\n\n');
      }
      if (parameters.length > 0 || op.requestBody) common.push(400);
      if (parameters.some((p) => p.in === 'path')) common.push(404);
      if (BODY_METHODS.has(method)) common.push(400, 413, 415);
      for (const status of common) {
        op.responses[status] ??= {
          description: COMMON_ERRORS[status] ?? 'Error',
          content: { 'application/json': { schema: ref('Error') } },
        };
      }
    }
  }
  return { document, problems };
}
