/** What a queued job carries: ids only; the handler reloads everything from Postgres. */
export interface JobKey {
  runId: number;
  name: string;
  index: number;
  /** The attempt this message is for (1-based); keeps a retry distinct from the try before it. */
  attempt: number;
}
