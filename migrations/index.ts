import { CreateCoreTables1763700000000 } from './1763700000000-CreateCoreTables';
import { AddWorkerLiveness1763800000000 } from './1763800000000-AddWorkerLiveness';

/** Every migration, registered explicitly, in order. */
export const MIGRATIONS = [CreateCoreTables1763700000000, AddWorkerLiveness1763800000000];
