import { CreateCoreTables1763700000000 } from './1763700000000-CreateCoreTables';

/** Every migration, registered explicitly, in order. */
export const MIGRATIONS = [CreateCoreTables1763700000000];
