export * from './run-model';
export * from './run-queries';
export * from './submit-run';
export * from './new-run';
export * from './requests';
export * from './idempotency';
export * from './create-run';
export * from './upload-file';
export * from './submit';
export { CancelRun } from './cancel-run';
export * from './job-lifecycle';
export * from './runs.module';
export {
  CANCEL_CHANNEL,
  ClaimedJob,
  eventJob,
  JobStore,
  jobFacts,
  runFacts,
  SCHEDULE_CHANNEL,
  STOP_CHANNEL,
} from './job-store';
export { HoldJobs } from './hold-job';
export { DecideGate } from './decide-gate';
export { GateTimeouts } from './gate-timeouts';
export { GroupProgressSender, PROGRESS_INTERVAL_MS } from './group-progress';
export { SetPriority } from './set-priority';
export * from './overview';
