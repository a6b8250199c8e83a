import { subjectProblem } from '@wfs/domain';

/** An `ingestion-complete.observation` message, as far as wfs needs it. */
export interface IngestionComplete {
  telescope: string;
  executionBlockId: string;
  projectCode: string | null;
  messageId: string | null;
}

export type Parsed = { ok: true; message: IngestionComplete } | { ok: false; reason: string };

/** Pure parsing and checking: every refusal says why, for the dead-letter queue. */
export function parseIngestionComplete(content: Buffer): Parsed {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return { ok: false, reason: 'not a JSON object' };
  const b = body as Record<string, unknown>;
  if (typeof b.telescope !== 'string' || b.telescope.trim() === '')
    return { ok: false, reason: 'missing field: telescope' };
  if (typeof b.executionBlockId !== 'string' || b.executionBlockId === '')
    return { ok: false, reason: 'missing field: executionBlockId' };
  const problem = subjectProblem(b.executionBlockId);
  if (problem) return { ok: false, reason: `executionBlockId ${problem}` };
  if (b.projectCode !== undefined && b.projectCode !== null && typeof b.projectCode !== 'string')
    return { ok: false, reason: 'projectCode must be a string' };
  if (b.messageId !== undefined && b.messageId !== null && typeof b.messageId !== 'string')
    return { ok: false, reason: 'messageId must be a string' };
  return {
    ok: true,
    message: {
      telescope: b.telescope.trim().toUpperCase(),
      executionBlockId: b.executionBlockId,
      projectCode: (b.projectCode as string | undefined) ?? null,
      messageId: (b.messageId as string | undefined) ?? null,
    },
  };
}
