#!/usr/bin/env node
// The domain library is pure: no framework, database, queue or broker imports.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const FORBIDDEN = /from '(@nestjs\/|typeorm|pg|bullmq|ioredis|amqplib|express|@wfs\/(?!domain))/;
const dir = new URL('../libs/domain/src', import.meta.url).pathname;
const bad = [];
const walk = (d) => {
  for (const f of readdirSync(d)) {
    const p = join(d, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts')) readFileSync(p, 'utf8').split('\n').forEach((line, i) => FORBIDDEN.test(line) && bad.push(`${p}:${i + 1}: ${line.trim()}`));
  }
};
walk(dir);
if (bad.length) {
  console.error('libs/domain must stay pure; these imports are adapters:\n' + bad.join('\n'));
  process.exit(1);
}
console.log('domain imports: pure');
