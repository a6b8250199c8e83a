import {
  approveGate,
  conflict,
  EventActor,
  JobDefinition,
  notFound,
  rejectGate,
  WfsError,
} from '@wfs/domain';
import { Database } from '@wfs/persistence';
import { WorkflowCatalog } from '@wfs/workflows';
import { GATE, JobStore } from './job-store';

/** Roles ranked as the tokens are (da and service alike). */
const RANK: Record<string, number> = { viewer: 0, da: 1, service: 1, ops: 2, admin: 3 };

/**
 * A person's decision on a gate (CONTRACT 5.4): approve, with optional
 * parameter changes validated against the workflow's schema (a 400 changes
 * nothing), or reject. Who may: the gate's `approvers` (admin always), else
 * da and above. 404 when the run has no such gate; 409 when it is not
 * waiting. The domain's approveGate / rejectGate applied by the job store.
 */
export class DecideGate {
  constructor(
    private readonly db: Database,
    private readonly catalog: WorkflowCatalog,
  ) {}

  approve(
    runId: number,
    gate: string,
    actor: EventActor,
    decision: { comment: string | null; parameters?: Record<string, unknown> },
  ): Promise<void> {
    return this.decide(runId, gate, actor, (store) => {
      // Not waiting is a 409 whatever the parameters say.
      const job = waiting(runId, gate, store.job({ runId, name: gate, index: 0 }));
      const row = store.row(runId);
      const parameters = decision.parameters
        ? this.catalog.validateParameters(store.definition(runId), {
            ...(row?.parameters ?? {}),
            ...decision.parameters,
          })
        : undefined;
      return approveGate(store.run(runId), job, store.groupsOf(runId), {
        actor,
        comment: decision.comment,
        ...(parameters ? { parameters } : {}),
      });
    });
  }

  reject(runId: number, gate: string, actor: EventActor, comment: string | null): Promise<void> {
    return this.decide(runId, gate, actor, (store) =>
      rejectGate(
        store.run(runId),
        waiting(runId, gate, store.job({ runId, name: gate, index: 0 })),
        store.groupsOf(runId),
        { actor, comment },
      ),
    );
  }

  private async decide(
    runId: number,
    gate: string,
    actor: EventActor,
    change: (store: JobStore, def: JobDefinition) => ReturnType<typeof approveGate>,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      const store = await JobStore.load(tx, this.catalog, {
        keys: [{ runId, name: gate, index: 0 }],
        groupsOf: [runId],
      });
      if (!store.exists(runId)) throw notFound('run', runId);
      const def = store.definition(runId).jobs.find((j) => j.name === gate);
      if (!def || def.executable !== GATE) throw notFound('gate', `${gate} of run ${runId}`);
      if (!mayDecide(actor.role, def))
        throw new WfsError(
          'forbidden',
          'NOT_AN_APPROVER',
          `Gate ${gate} is decided by ${(def.approvers ?? ['da', 'ops']).join(', ')} (or admin); a ${actor.role} token may not.`,
          { gate, approvers: def.approvers ?? null, role: actor.role },
        );
      store.apply(runId, change(store, def));
      await store.flush(tx);
    });
  }
}

function mayDecide(role: string, def: JobDefinition): boolean {
  if (role === 'admin') return true;
  if (def.approvers?.length) return def.approvers.includes(role);
  return (RANK[role] ?? 0) >= RANK.da;
}

function waiting(
  runId: number,
  gate: string,
  job: ReturnType<JobStore['job']>,
): NonNullable<ReturnType<JobStore['job']>> {
  if (!job || job.state !== 'waiting')
    throw conflict(
      'GATE_NOT_WAITING',
      `Gate ${gate} of run ${runId} is ${job?.state ?? 'not planned'}: only a waiting gate can be decided.`,
      { runId, gate, state: job?.state ?? null },
    );
  return job;
}
