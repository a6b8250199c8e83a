import type { WfsEvent, WorkflowDefinition } from '@wfs/domain';

/** The event types that become mail, and the `notify` key of a definition each answers to. */
export const NOTICE_OF = {
  running: 'started',
  complete: 'complete',
  failed: 'failed',
  // A gate waits for a person: the roles its own `notify` names (CONTRACT 5.4).
  'gate-waiting': 'gate',
} as const;
export type NoticeEventType = keyof typeof NOTICE_OF;
export const NOTICE_EVENT_TYPES = Object.keys(NOTICE_OF) as NoticeEventType[];

export const isNoticeType = (type: string): type is NoticeEventType => type in NOTICE_OF;

/** What a mail job carries: everything needed to send it, fixed when the event was turned into mail. */
export interface MailJob {
  messageId: string;
  runId: number;
  type: NoticeEventType;
  roles: string[];
  to: string[];
  subject: string;
  text: string;
}

/**
 * The addresses of a definition's `notify` roles for one event, and the roles
 * named in the definition that no address is configured for.
 */
export function recipients(
  def: Pick<WorkflowDefinition, 'notify'> & Partial<Pick<WorkflowDefinition, 'jobs'>>,
  type: NoticeEventType,
  roles: Record<string, string[]>,
  gate: string | null = null,
): { roles: string[]; to: string[]; unknown: string[] } {
  const wanted =
    type === 'gate-waiting'
      ? (def.jobs?.find((j) => j.name === gate)?.notify ?? [])
      : (def.notify?.[NOTICE_OF[type]] ?? []);
  const to = new Set<string>();
  const known: string[] = [];
  const unknown: string[] = [];
  for (const role of wanted) {
    const addresses = roles[role];
    if (!addresses) {
      unknown.push(role);
      continue;
    }
    known.push(role);
    for (const a of addresses) to.add(a);
  }
  return { roles: known, to: [...to], unknown };
}

/** Subject and plain-text body of the notice for one event (the run id is always in both). */
export function composeMail(
  event: WfsEvent,
  def: Pick<WorkflowDefinition, 'name' | 'version' | 'description'>,
): { subject: string; text: string } {
  const word =
    event.type === 'running'
      ? 'started'
      : event.type === 'gate-waiting'
        ? `waits for a decision at gate ${event.gate?.job ?? '?'}`
        : event.type;
  const about = event.subject ? ` (${event.subject})` : '';
  const subject = `[wfs] ${event.workflow} run ${event.runId}${about} ${word}`;
  const lines = [
    `Run ${event.runId} of workflow ${event.workflow} ${word} at ${event.occurredAt}.`,
    '',
    `Run id:          ${event.runId}`,
    `Workflow:        ${def.name} version ${def.version}`,
    `Request:         ${event.requestId}, run version ${event.version}`,
    `Subject:         ${event.subject ?? '-'}`,
    `State:           ${event.state}`,
    `QA state:        ${event.qaState}`,
    `Disk:            ${event.diskState}`,
    `Processing dir:  ${event.processingDir ?? '-'}`,
  ];
  if (event.resultsDir) lines.push(`Results dir:     ${event.resultsDir}`);
  if (event.correlationId) lines.push(`Correlation id:  ${event.correlationId}`);
  if (event.error) lines.push(`Error:           ${event.error.code}: ${event.error.message}`);
  lines.push('');
  if (event.type === 'gate-waiting' && event.gate) {
    lines.push(
      event.gate.prompt,
      '',
      `Decide: wfs gate ${event.runId} ${event.gate.job} approve|reject [--comment C] [--param k=v]`,
      `(POST /api/v1/runs/${event.runId}/gates/${event.gate.job}/approve or /reject).`,
    );
  } else if (event.type === 'complete' && event.qaState === 'awaiting') {
    lines.push(
      `The run awaits QA: review it, then ingest (wfs ingest ${event.runId}) or reject it.`,
    );
  } else if (event.type === 'failed') {
    lines.push(
      `The run failed; its directory stays in place for inspection (job logs: GET /api/v1/runs/${event.runId}).`,
    );
  }
  lines.push('', `-- wfs (event ${event.messageId}, sequence ${event.sequence})`, '');
  return { subject, text: lines.join('\n') };
}
