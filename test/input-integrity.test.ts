/**
 * What the database records about a run's input files and what is on disk
 * always agree (issue 9 item 3), through the real REST API: an upload that
 * a submit overtakes and that is refused with 409 leaves the submitted run's
 * file as it was, and parallel re-uploads of one name leave a recorded
 * size/sha256 that is the bytes on disk. Races are repeated enough to catch
 * them; loads stay modest (the machine is shared).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startStack, Stack } from '@wfs/testing';
import { nonce, putInChunks, RawReply, sha256, sleep } from './support/files';

const ROUNDS = Number(process.env.RACE_ROUNDS ?? 40);

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ workers: 1 });
});
afterAll(async () => {
  await stack?.stop();
});

// A tiny radps_skeleton run (20 instant builtin jobs): submitting it dispatches for real.
const SMALL = { nField: 1, nSpw: 1, nScan: 1 };
const NAME = 'data.bin';

async function createRun(): Promise<any> {
  const r = await stack.call('POST', '/api/v1/workflows/radps_skeleton/runs', {
    body: { parameters: SMALL },
    role: 'da',
  });
  expect(r.status).toBe(201);
  return r.body;
}

const put = (runId: number, bytes: Buffer) =>
  stack.call('PUT', `/api/v1/runs/${runId}/files/${NAME}`, {
    raw: bytes,
    role: 'da',
    headers: { 'content-type': 'application/octet-stream' },
  });

/** Distinct contents of distinct sizes, so a mix-up shows in size and sha256 alike. */
const contents = (tag: string, n: number, size = 4096) =>
  Array.from({ length: n }, (_, i) =>
    Buffer.concat([Buffer.from(`${tag}-${i}-`), Buffer.alloc(size + i * 97, 65 + (i % 26))]),
  );

/** The run's recorded file and the bytes in its inputs/ directory (looked up by the run's current directory). */
async function recordedAndOnDisk(runId: number): Promise<{ recorded: any; disk: Buffer | null }> {
  const run = await stack.call('GET', `/api/v1/runs/${runId}`, { role: 'viewer' });
  const files = await stack.call('GET', `/api/v1/runs/${runId}/files`, { role: 'viewer' });
  const recorded = files.body.items.find((f: any) => f.name === NAME) ?? null;
  const p = path.join(run.body.processingDir, 'inputs', NAME);
  return { recorded, disk: fs.existsSync(p) ? fs.readFileSync(p) : null };
}

/** DB == disk: the recorded size and sha256 are those of the file on disk. */
function expectAgree(state: { recorded: any; disk: Buffer | null }, context: string): void {
  expect([context, state.disk === null ? null : state.disk.length]).toEqual([
    context,
    state.recorded?.size ?? null,
  ]);
  expect([context, state.disk === null ? null : sha256(state.disk)]).toEqual([
    context,
    state.recorded?.sha256 ?? null,
  ]);
}

describe('upload versus submit', () => {
  test(`an upload that a submit overtakes (slow body, submit half-way): a 409 leaves the recorded bytes on disk`, async () => {
    const run = await createRun();
    const [before, after] = contents(`slow-${nonce()}`, 2, 64 * 1024);
    expect((await put(run.id, before!)).status).toBe(201);

    const half = after!.length >> 1;
    let submit: Promise<{ status: number }> | null = null;
    const upload = await putInChunks(
      stack,
      `/api/v1/runs/${run.id}/files/${NAME}`,
      [after!.subarray(0, half), after!.subarray(half)],
      async () => {
        // The first half is being stored (its temporary file shows, where this version keeps it);
        // submit now and give it time to commit (or to wait for the upload).
        const inputs = path.join(run.processingDir, 'inputs');
        for (let i = 0; i < 100 && !fs.readdirSync(inputs).some((f) => f !== NAME); i++)
          await sleep(20);
        submit = stack.call('POST', `/api/v1/runs/${run.id}/submit`, { role: 'da' });
        await Promise.race([submit, sleep(1500)]);
      },
    );
    const submitted = await submit!;
    expect(upload.status).toBeLessThan(500);
    expect(submitted.status).toBeLessThan(500);
    const state = await recordedAndOnDisk(run.id);
    expectAgree(state, `upload ${upload.status}, submit ${submitted.status}`);
    if (upload.status === 409) {
      expect(state.recorded.sha256).toBe(sha256(before!));
      expect(state.disk!.equals(before!)).toBe(true);
    } else {
      expect(upload.status).toBe(201);
      expect(state.recorded.sha256).toBe(sha256(after!));
    }
    await stack.waitForRun(run.id);
  });

  test(`upload and submit at once, ${ROUNDS} times: whenever the upload is 409 the disk holds the recorded bytes`, async () => {
    const outcomes: Record<string, number> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const run = await createRun();
      const [before, after] = contents(`race-${round}-${nonce()}`, 2, 16 * 1024 + round * 512);
      expect((await put(run.id, before!)).status).toBe(201);
      // Vary who starts first by a little, to walk through the interleavings.
      const lead = round % 4;
      const [upload, submitted] = await Promise.all([
        (async (): Promise<RawReply> => {
          if (lead === 1) await sleep(1);
          const chunks = [after!.subarray(0, 4096), after!.subarray(4096)];
          return putInChunks(stack, `/api/v1/runs/${run.id}/files/${NAME}`, chunks, async () =>
            sleep(lead === 3 ? 5 : 0),
          );
        })(),
        (async () => {
          if (lead === 2) await sleep(2);
          return stack.call('POST', `/api/v1/runs/${run.id}/submit`, { role: 'da' });
        })(),
      ]);
      const key = `upload ${upload.status} / submit ${submitted.status}`;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      expect(upload.status).toBeLessThan(500);
      expect(submitted.status).toBeLessThan(500);
      const state = await recordedAndOnDisk(run.id);
      expectAgree(state, `round ${round}: ${key}`);
      if (upload.status === 409) {
        expect([round, state.disk!.equals(before!)]).toEqual([round, true]);
      }
      if (upload.status === 201) expect(state.recorded.sha256).toBe(sha256(after!));
    }
    // Which interleavings were seen (shown by --verbose runs; the assertions above hold for each).
    if (process.env.RACE_VERBOSE) console.log(outcomes);
    // Let the last runs finish before the stack goes.
    await sleep(500);
  }, 180_000);
});

describe('parallel re-uploads of one name', () => {
  test('10 at once, repeated: the recorded size/sha256 is the bytes on disk, and one of those sent', async () => {
    const run = await createRun();
    for (let round = 0; round < 12; round++) {
      const sent = contents(`par-${round}-${nonce()}`, 10, 8 * 1024 + round * 1024);
      const replies = await Promise.all(sent.map((b) => put(run.id, b)));
      for (const r of replies) expect(r.status).toBeLessThan(500);
      expect(replies.some((r) => r.status === 201)).toBe(true);
      const state = await recordedAndOnDisk(run.id);
      expectAgree(state, `round ${round}`);
      expect(sent.map((b) => sha256(b))).toContain(state.recorded.sha256);
      // Every answered 201 said what it stored; the last stored is the one on disk.
      for (const r of replies.filter((x) => x.status === 201))
        expect(sent.map((b) => sha256(b))).toContain(r.body.sha256);
      // No temporary upload files left behind.
      const run2 = await stack.call('GET', `/api/v1/runs/${run.id}`, { role: 'viewer' });
      expect(fs.readdirSync(path.join(run2.body.processingDir, 'inputs'))).toEqual([NAME]);
    }
  }, 120_000);
});
