import { parseArgs } from 'node:util';
import { didYouMean } from '@wfs/domain';
import { auditCommand } from './audit-command';
import { ApiError, Client, UsageError } from './client';
import { COMMANDS as RUN_COMMANDS, Flags } from './commands';
import { SCHEDULING_COMMANDS } from './scheduling-commands';

const COMMANDS: typeof RUN_COMMANDS = {
  ...RUN_COMMANDS,
  ...SCHEDULING_COMMANDS,
  audit: auditCommand,
};

const USAGE = `usage: wfs <command> [options]   (WFS_URL, WFS_TOKEN; every command takes --json)
  workflows
  submit <workflow> [--subject S] [--param k=v ...] [--params-file f.json] [--file path ...]
         [--results-dir D] [--correlation-id C] [--watch]
  status <runId>
  list [--state S] [--workflow W] [--subject S] [--qa Q] [--limit N]
  watch <runId>
  rerun <runId | subject> [--ppr f] [--flagtemplate f] [--flux f] [--flagtargetstemplate f] [--param k=v] [--from JOB] [--watch]
  qa <runId> pass|fail|null --analyst NAME [--comments TEXT]
  ingest <runId> --qa pass|fail|null --analyst NAME [--report qa_report.txt] [--flagtemplate f] [--flagtargetstemplate f] [--watch]
  ingest-many <runId...> --analyst NAME [--qa pass|fail|null] [--comments TEXT] [--correlation-id C] [--watch]
  reject <runId> --analyst NAME [--comments TEXT]
  cleanup <runId> [--dry-run]
  cancel <runId>
  resume <runId>
  gate <runId> <job> approve|reject [--comment C] [--param k=v ...]
  workers
  hold <runId> <job> [index] --reason R
  release <runId> <job> [index]
  pause <workflow> --reason R
  unpause <workflow>
  limits [set NAME MAX | delete NAME]
  audit [--run N] [--actor TOKEN] [--action X] [--since TIME] [--limit N]
exit status: 0 done, 1 refused or failed, 2 usage error`;

const OPTIONS = {
  json: { type: 'boolean' },
  watch: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  subject: { type: 'string' },
  param: { type: 'string', multiple: true },
  'params-file': { type: 'string' },
  file: { type: 'string', multiple: true },
  'results-dir': { type: 'string' },
  'correlation-id': { type: 'string' },
  state: { type: 'string' },
  workflow: { type: 'string' },
  qa: { type: 'string' },
  limit: { type: 'string' },
  ppr: { type: 'string' },
  flagtemplate: { type: 'string' },
  from: { type: 'string' },
  flux: { type: 'string' },
  flagtargetstemplate: { type: 'string' },
  report: { type: 'string' },
  analyst: { type: 'string' },
  comments: { type: 'string' },
  comment: { type: 'string' },
  reason: { type: 'string' },
  run: { type: 'string' },
  actor: { type: 'string' },
  action: { type: 'string' },
  since: { type: 'string' },
} as const;

/** The line that says what to do next, if the service or the CLI knows one. */
function nextStep(e: ApiError): string {
  if (e.status === 401) {
    return process.env.WFS_TOKEN
      ? '\n  WFS_TOKEN is set but the service does not accept it: check it, or ask ops for a new token.'
      : '\n  WFS_TOKEN is not set: export WFS_TOKEN=<your token> (ask ops for one).';
  }
  return typeof e.details.hint === 'string' ? `\n  ${e.details.hint}` : '';
}

/** The `wfs` command: returns its exit status. */
export async function main(argv: string[]): Promise<number> {
  let parsed: { values: Flags; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    }) as unknown as typeof parsed;
  } catch (e) {
    const message = (e as Error).message;
    const unknown = /^Unknown option '(-[^']*)'/.exec(message)?.[1];
    const options = Object.keys(OPTIONS).map((o) => `--${o}`);
    process.stderr.write(
      unknown
        ? `wfs: unknown option ${unknown}.${didYouMean(unknown, options)}\n${USAGE}\n`
        : `wfs: ${message}\n${USAGE}\n`,
    );
    return 2;
  }
  const [command, ...args] = parsed.positionals;
  if (parsed.values.help || !command) {
    process.stdout.write(USAGE + '\n');
    return parsed.values.help ? 0 : 2;
  }
  const handler = COMMANDS[command];
  if (!handler) {
    process.stderr.write(
      `wfs: unknown command "${command}".${didYouMean(command, Object.keys(COMMANDS))}\n${USAGE}\n`,
    );
    return 2;
  }
  const json = parsed.values.json === true;
  const client = new Client(
    (process.env.WFS_URL || 'http://127.0.0.1:3000').replace(/\/$/, ''),
    process.env.WFS_TOKEN,
  );
  const io = {
    json,
    tty: process.stderr.isTTY === true && !json,
    out: (s: string) => process.stdout.write(s + '\n'),
  };
  try {
    return await handler(client, io, args, parsed.values);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`wfs ${command}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof ApiError) {
      if (json)
        process.stdout.write(
          JSON.stringify({ error: { code: e.code, message: e.message, details: e.details } }) +
            '\n',
        );
      const state = typeof e.details.state === 'string' ? ` (state: ${e.details.state})` : '';
      const fields =
        e.details.fields && typeof e.details.fields === 'object'
          ? Object.entries(e.details.fields as Record<string, string>)
              .map(([k, v]) => `\n  ${k}: ${v}`)
              .join('')
          : '';
      process.stderr.write(`wfs ${command}: ${e.message}${state}${fields}${nextStep(e)}\n`);
      return 1;
    }
    process.stderr.write(`wfs ${command}: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
