import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/**
 * Checks an HTTP answer against the OpenAPI document the API serves (CONTRACT
 * 5.10: "every response the tests receive matches the schema it declares for
 * that status code"), with ajv rather than anything of @nestjs/swagger.
 *
 * Stricter than a client must be: an object that lists its properties may
 * carry no other (the document does not say so, so that clients stay free to
 * ignore new fields), so a field the API sends but the document does not
 * name fails the check.
 */

type Json = Record<string, unknown>;
interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  params: number;
  responses: Record<string, { content?: Record<string, { schema?: Json }> }>;
}

const BASE = 'https://wfs.invalid/components/';

/** What is not part of the REST API: the document and its browser, the dashboard's page and files. */
const NOT_API = /^\/(api\/docs(-json)?(\/.*)?|dashboard\.(js|css))?$/;

/** The schema with its component references made absolute and its listed objects closed. */
function prepare(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(prepare);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema as Json)) {
    if (k === '$ref' && typeof v === 'string') out[k] = v.replace('#/components/schemas/', BASE);
    else if (k === 'properties' && v && typeof v === 'object')
      out[k] = Object.fromEntries(Object.entries(v as Json).map(([p, s]) => [p, prepare(s)]));
    else out[k] = prepare(v);
  }
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

const mediaType = (contentType: string | null): string =>
  (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

export class OpenApiCheck {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly operations: Operation[] = [];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(document: Json) {
    addFormats(this.ajv);
    this.ajv.addFormat('binary', true);
    const components = ((document.components as Json | undefined)?.schemas ?? {}) as Json;
    for (const [name, schema] of Object.entries(components))
      this.ajv.addSchema(prepare(schema) as Json, BASE + name);
    for (const [template, item] of Object.entries(document.paths as Record<string, Json>)) {
      for (const [method, op] of Object.entries(item)) {
        if (!['get', 'put', 'post', 'patch', 'delete'].includes(method)) continue;
        const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
        this.operations.push({
          method: method.toUpperCase(),
          template,
          pattern: new RegExp(`^${source}$`),
          params: (template.match(/\{/g) ?? []).length,
          responses: (op as Json).responses as Operation['responses'],
        });
      }
    }
    // A literal segment wins over a parameter (`/runs/{id}/events/stream` before a `{name}`).
    this.operations.sort((a, b) => a.params - b.params);
  }

  static async load(baseUrl: string): Promise<OpenApiCheck> {
    const res = await fetch(`${baseUrl}/api/docs-json`);
    if (res.status !== 200) throw new Error(`GET /api/docs-json answered ${res.status}`);
    return new OpenApiCheck((await res.json()) as Json);
  }

  private validator(key: string, schema: Json): ValidateFunction {
    let v = this.compiled.get(key);
    if (!v) {
      v = this.ajv.compile(prepare(schema) as Json);
      this.compiled.set(key, v);
    }
    return v;
  }

  /** What is wrong with this answer by the document, or null when it is as declared. */
  check(
    method: string,
    url: string,
    res: { status: number; contentType: string | null; text: string; body: unknown },
  ): string | null {
    const path = url.split('?')[0] ?? url;
    if (NOT_API.test(path)) return null;
    const op = this.operations.find((o) => o.method === method && o.pattern.test(path));
    const name = op ? `${op.method} ${op.template}` : `${method} ${path}`;
    let declared = op?.responses[String(res.status)];
    if (!op) {
      // No such route: Nest's 404, still in the envelope.
      if (res.status !== 404) return `${name}: no such operation in the document`;
      declared = { content: { 'application/json': { schema: { $ref: BASE + 'Error' } } } };
    }
    if (!declared) return `${name} answered ${res.status}, a status it does not declare`;
    const content = declared.content;
    if (!content) {
      return res.text === '' ? null : `${name} ${res.status}: declares no body but sent one`;
    }
    const media = mediaType(res.contentType);
    const entry = content[media];
    if (!entry)
      return `${name} ${res.status}: sent ${media || 'no content type'}, declares ${Object.keys(content).join(', ')}`;
    if (media !== 'application/json' || !entry.schema) return null;
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      return `${name} ${res.status}: the body is not JSON`;
    }
    const validate = this.validator(`${name} ${res.status}`, entry.schema);
    if (validate(body)) return null;
    const errors = (validate.errors ?? [])
      .slice(0, 5)
      .map(
        (e) =>
          `${e.instancePath || '(body)'} ${e.message ?? ''}${e.keyword === 'additionalProperties' ? `: ${String((e.params as Json).additionalProperty)}` : ''}`,
      )
      .join('; ');
    return `${name} ${res.status}: the body does not match its schema: ${errors}`;
  }
}
