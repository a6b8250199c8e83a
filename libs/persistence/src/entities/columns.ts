import type { ValueTransformer } from 'typeorm';

/**
 * bigint columns (ids, sizes) arrive from pg as strings; the service's ids and
 * sizes stay far below 2^53, so entities hold them as numbers.
 */
export const bigintAsNumber: ValueTransformer = {
  to: (v: number | null | undefined) => v,
  from: (v: string | null) => (v === null ? null : Number(v)),
};

/** `timestamptz NOT NULL DEFAULT now()`, as the migrations write it. */
export const NOW = () => 'now()';
