/** A worker not seen (heartbeat) for this long is dead: its running jobs are lost. */
export const WORKER_DEAD_AFTER_S = 20;
