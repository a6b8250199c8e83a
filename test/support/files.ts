/**
 * Helpers for tests that look at what the service wrote on disk and at what
 * it serves: trees listed without following links, planted symlinks, raw
 * uploads with control over when the bytes arrive, and multipart bodies.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Stack, TOKENS } from './stack';

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
export const nonce = (): string => randomBytes(4).toString('hex');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A fresh directory of the test's own, outside every root of the service. */
export function outsideDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `wfs-outside-${label}-`));
}

/**
 * Every entry under `dir`, relative, sorted, found without following any
 * symlink (a link is listed, not entered). Empty when `dir` does not exist.
 */
export function lstatTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(dir, rel));
    } catch {
      return;
    }
    for (const n of names) {
      const r = rel ? path.join(rel, n) : n;
      out.push(r);
      const st = fs.lstatSync(path.join(dir, r));
      if (st.isDirectory() && !st.isSymbolicLink()) walk(r);
    }
  };
  if (fs.existsSync(dir)) walk('');
  return out.sort();
}

/** Whether a path exists as itself (a dangling symlink counts). */
export function lexists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * What under `dir` would hand out `secret`: regular files holding its bytes,
 * and symlinks (followed) that lead to it. Found without entering links to
 * directories, so a planted link cannot widen the search.
 */
export function leaksOf(dir: string, secret: Buffer): string[] {
  const found: string[] = [];
  for (const rel of lstatTree(dir)) {
    const p = path.join(dir, rel);
    const st = fs.lstatSync(p);
    if (st.isFile()) {
      if (fs.readFileSync(p).includes(secret)) found.push(rel);
    } else if (st.isSymbolicLink()) {
      try {
        const target = fs.statSync(p);
        if (target.isFile() && fs.readFileSync(p).includes(secret)) found.push(`${rel} (link)`);
        if (target.isDirectory()) {
          for (const inner of lstatTree(p)) {
            const q = path.join(p, inner);
            if (fs.lstatSync(q).isFile() && fs.readFileSync(q).includes(secret))
              found.push(`${rel}/${inner} (through link)`);
          }
        }
      } catch {
        /* dangling */
      }
    }
  }
  return found;
}

/** Replaces `p` (a file or directory of the run) by a symlink to `target`; the original goes aside. */
export function plantLink(p: string, target: string): void {
  if (lexists(p)) fs.renameSync(p, `${p}.planted-aside-${nonce()}`);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.symlinkSync(target, p);
}

export interface RawReply {
  status: number;
  body: any;
  text: string;
  headers: http.IncomingHttpHeaders;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * A PUT upload over plain node:http whose bytes are sent in `chunks`, each
 * after `await between(i)` resolves: so a test decides what happens while
 * the upload is half-way (a submit, another upload).
 */
export function putInChunks(
  stack: Stack,
  p: string,
  chunks: Buffer[],
  between: (i: number) => Promise<void> = async () => undefined,
  role: keyof typeof TOKENS = 'da',
): Promise<RawReply> {
  const u = new URL(stack.url);
  const total = chunks.reduce((n, c) => n + c.length, 0);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method: 'PUT',
        path: p,
        headers: {
          authorization: `Bearer ${TOKENS[role]}`,
          'content-type': 'application/octet-stream',
          'content-length': String(total),
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString();
          resolve({ status: res.statusCode ?? 0, body: parse(text), text, headers: res.headers });
        });
        res.on('error', reject);
      },
    );
    // The service may answer (and close) before every byte is sent: that is an answer, not an error.
    req.on('error', reject);
    void (async () => {
      for (let i = 0; i < chunks.length; i++) {
        if (i > 0) await between(i);
        if (req.destroyed) return;
        req.write(chunks[i]);
      }
      req.end();
    })().catch(reject);
  });
}

/** A multipart POST: file parts (named by their file names, as the contract says) and text fields. */
export async function postMultipart(
  stack: Stack,
  p: string,
  parts: Array<{ name: string; data: Buffer | string; filename?: string }>,
  fields: Record<string, string> = {},
  role: keyof typeof TOKENS = 'da',
): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  for (const part of parts) {
    const bytes = typeof part.data === 'string' ? Buffer.from(part.data) : part.data;
    form.append(part.name, new Blob([new Uint8Array(bytes)]), part.filename ?? part.name);
  }
  const res = await fetch(stack.url + p, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS[role]}` },
    body: form,
  });
  const text = await res.text();
  return { status: res.status, body: parse(text), text, headers: res.headers };
}

/** The contract's error envelope. */
export function isErrorEnvelope(body: any): boolean {
  return (
    body !== null &&
    typeof body === 'object' &&
    Object.keys(body).length === 1 &&
    typeof body.error?.code === 'string' &&
    /^[A-Z][A-Z0-9_]*$/.test(body.error.code) &&
    typeof body.error.message === 'string' &&
    typeof body.error.details === 'object'
  );
}
