/** The parts of the service's JSON documents the CLI reads (see docs/api.md). */
export interface JobDoc {
  name: string;
  index: number;
  state: string;
  attempts: number;
  exitCode: number | null;
  statusReason: string | null;
  stage?: string;
  /** Why an idle instance has not started (dependencies, resources, limit:<name>, ...). */
  waitingFor?: string | null;
}

export interface RunDoc {
  id: number;
  /** Open gates (CONTRACT 5.3). */
  waiting?: Array<{ job: string; prompt: string; since: string | null }>;
  requestId: number;
  version: number;
  workflow: string;
  subject: string | null;
  state: string;
  qaState: string;
  archiveState: string;
  diskState: string;
  processingDir: string | null;
  createdAt: string;
  createdBy: string;
  finishedAt: string | null;
  error: { code: string; message: string } | null;
  files: Array<{ name: string; size: number; sha256: string }>;
  jobs: JobDoc[];
  jobsTotal: number;
  jobsPrunedAt?: string | null;
}

export interface EventDoc {
  sequence: number;
  type: string;
  runId: number;
  occurredAt: string;
  job: JobDoc | null;
  /** A group-progress event's counts (CONTRACT 5.8). */
  progress?: {
    job: string;
    stage: string;
    total: number;
    idle: number;
    running: number;
    completed: number;
    failed: number;
    held: number;
  } | null;
}
