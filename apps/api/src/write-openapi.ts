import 'reflect-metadata';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '@wfs/config';
import { ApiModule } from './api.module';
import { buildOpenApiDocument } from './openapi';

/**
 * `node dist/apps/api/src/write-openapi.js FILE`: writes the API's OpenAPI
 * document without connecting to anything (Nest's preview mode builds the
 * module graph but no provider), and fails naming each route that is not
 * fully declared. `npm run check` lints the file it writes.
 */
async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: write-openapi FILE\n');
    process.exit(2);
  }
  const app = await NestFactory.create(ApiModule.forRoot(loadConfig({})), {
    preview: true,
    logger: false,
    abortOnError: false,
  });
  const { document, problems } = buildOpenApiDocument(app);
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(document, null, 2) + '\n');
  for (const p of problems) process.stderr.write(`openapi: ${p}\n`);
  process.exit(problems.length > 0 ? 1 : 0);
}

main().catch((e: unknown) => {
  process.stderr.write(`openapi: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
