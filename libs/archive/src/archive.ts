import type { ProductRole } from '@wfs/domain';

/**
 * The archive port: the system of record for products. wfs talks to it only
 * through this interface; the embedded default is LocalArchive (a directory
 * store under WFS_ARCHIVE_ROOT plus tables in Postgres). A site plugs in its
 * real archive behind the same interface. (Product roles are the domain's.)
 */
export type { ProductRole };
export type CalibrationStatus = 'Calibrating' | 'Calibrated' | 'Do Not Calibrate' | 'Unknown';
export type QaFlag = 'pass' | 'fail' | 'null';

export interface ArchivedFile {
  path: string; // inside the product, e.g. "weblog.tgz"
  size: number;
  sha256: string;
  role: ProductRole;
}

export interface Product {
  name: string;
  kind: string; // e.g. "calibration", "image"
  subject: string;
  qaFlag: QaFlag | null;
  sourceRunId: number;
  ingestionRunId: number;
  ingestedAt: string;
  files: ArchivedFile[];
}

export interface ProductToIngest {
  name: string;
  kind: string;
  subject: string;
  qaFlag: QaFlag | null;
  sourceRunId: number;
  ingestionRunId: number;
  /** Each file's bytes come from `source` (an absolute path) and are stored as `path`. */
  files: Array<{ source: string; path: string; role: ProductRole }>;
}

export interface Archive {
  /** Stores a product (copying and checksumming its files). Idempotent per name: a repeat replaces it whole. */
  ingest(product: ProductToIngest): Promise<Product>;
  product(name: string): Promise<Product | null>;
  /** Products of a subject, newest first, and its calibration status ('Unknown' if never set). */
  subject(
    subject: string,
  ): Promise<{ subject: string; calibrationStatus: CalibrationStatus; products: Product[] }>;
  productsOfRun(sourceRunId: number): Promise<Product[]>;
  setCalibrationStatus(subject: string, status: CalibrationStatus): Promise<void>;
  /** Registers a QA flag for a subject's products of one source run. */
  setQaFlag(sourceRunId: number, flag: QaFlag): Promise<void>;
  /**
   * Whether every one of these files (by sha256 and size) is held by the archive
   * in a product of the source run, its stored bytes re-checked. Cleanup deletes
   * nothing unless this is true.
   */
  holds(sourceRunId: number, files: Array<{ sha256: string; size: number }>): Promise<boolean>;
}

export const ARCHIVE = Symbol('ARCHIVE');
