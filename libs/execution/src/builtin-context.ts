import type { Roots, RunDirs } from '@wfs/storage';
import type { RunEffects } from '@wfs/runs';
import type { Archive } from '@wfs/archive';
import type { WorkflowDefinition } from '@wfs/domain';

/** The run a step belongs to, and for ingestion runs the run they ingest. */
export interface BuiltinRun {
  id: number;
  workflow: string;
  subject: string | null;
  parameters: Record<string, unknown>;
  definition: WorkflowDefinition;
  dirs: RunDirs;
  /** The directory the caller asked for (left where it is), or null for one the service named. */
  resultsDir: string | null;
}

/** What a step the worker does itself (no process) is given. */
export interface BuiltinContext {
  dirs: RunDirs;
  args: string[];
  roots: Roots;
  signal: AbortSignal;
  log: (line: string) => void;
  run: BuiltinRun;
  /**
   * The runs an ingestion run ingests (their directories, their definitions'
   * product patterns): one, or up to 1,000 for a bulk ingestion; empty for
   * any other run.
   */
  sources: BuiltinRun[];
  archive: Archive;
}

export interface BuiltinResult {
  exitCode: number;
  effects?: RunEffects;
}

export type Builtin = (ctx: BuiltinContext) => Promise<BuiltinResult>;
