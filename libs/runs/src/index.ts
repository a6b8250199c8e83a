export * from './run-model';
export * from './run-queries';
export * from './submit-run';
export * from './create-run';
export * from './run-commands';
export * from './job-lifecycle';
export * from './runs.module';
export { ClaimedJob, eventJob, JobStore, jobFacts, runFacts } from './job-store';
export * from './overview';
