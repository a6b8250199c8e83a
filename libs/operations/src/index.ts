export * from './operation-errors';
export * from './set-qa';
export * from './rerun-run';
export * from './ingest-run';
export * from './reject-run';
export * from './cleanup-run';
export * from './sweep-processing-area';
export * from './operations.module';
