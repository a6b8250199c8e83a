// Kept while job-lifecycle moves: libs/runs/src/job-lifecycle.ts imports CANCEL_CHANNEL from here.
// The commands that lived in this file are now one use case per file: upload-file.ts, submit.ts,
// cancel-run.ts (and RunQueries.openFile).
export { CANCEL_CHANNEL } from './cancel-run';
