import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tx } from '@wfs/persistence';
import { copyDigesting, digestFile } from '@wfs/storage';
import type {
  Archive,
  ArchivedFile,
  CalibrationStatus,
  Product,
  ProductRole,
  ProductToIngest,
  QaFlag,
} from './archive';
import { isSafeProductName, isSafeProductPath, QA_FLAGS, validateProduct } from './product-rules';

/** What LocalArchive needs of the database: plain queries and transactions (Database satisfies it). */
export interface ArchiveDb extends Tx {
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
}

/** The calibration statuses an execution block may have. */
const STATUSES: ReadonlySet<string> = new Set([
  'Calibrating',
  'Calibrated',
  'Do Not Calibrate',
  'Unknown',
]);

interface ProductRow {
  name: string;
  kind: string;
  subject: string;
  qa_flag: QaFlag | null;
  source_run_id: string;
  ingestion_run_id: string;
  ingested_at: Date;
}

interface FileRow {
  product_name: string;
  path: string;
  size: string;
  sha256: string;
  role: ProductRole;
}

/**
 * The embedded archive: files under `<root>/<product name>/<path>`, metadata in
 * Postgres (migrations/1763900000000-CreateLocalArchive).
 *
 * ingest() copies every file into a fresh staging directory (`<root>/.staging/`),
 * hashing while copying, then swaps it into place with a rename and replaces the
 * product's rows in one transaction. A repeat replaces the product whole; a
 * crash in between leaves either the old or the new files, and holds() re-hashes
 * what is on disk, so a half-done ingestion never counts as archived.
 * Concurrent ingestions of the same product name are not expected (one
 * ingestion run per source run) and are not locked against.
 */
export class LocalArchive implements Archive {
  private readonly staging: string;
  private readonly trash: string;

  /** The archive's directory, by its real path (files are read back without following links). */
  readonly root: string;

  constructor(
    private readonly db: ArchiveDb,
    root: string,
  ) {
    fs.mkdirSync(root, { recursive: true });
    this.root = fs.realpathSync.native(root);
    this.staging = path.join(this.root, '.staging');
    this.trash = path.join(this.root, '.trash');
  }

  /** Where a product's file is stored. */
  filePath(productName: string, filePath: string): string {
    if (!isSafeProductName(productName))
      throw new Error(`unsafe product name ${JSON.stringify(productName)}`);
    if (!isSafeProductPath(filePath))
      throw new Error(`unsafe product file path ${JSON.stringify(filePath)}`);
    return path.join(this.root, productName, ...filePath.split('/'));
  }

  async ingest(product: ProductToIngest): Promise<Product> {
    validateProduct(product);
    // one copy per stored path, even when the path has several roles
    const sources = new Map<string, string>();
    for (const f of product.files) {
      const known = sources.get(f.path);
      if (known !== undefined && path.resolve(known) !== path.resolve(f.source)) {
        throw new Error(`product ${product.name}: ${f.path} is given twice from different sources`);
      }
      sources.set(f.path, f.source);
    }

    await fs.promises.mkdir(this.staging, { recursive: true });
    const tag = `${product.name}.${randomBytes(6).toString('hex')}`;
    const staged = path.join(this.staging, tag);
    const digests = new Map<string, { sha256: string; size: number }>();
    try {
      await fs.promises.mkdir(staged);
      for (const [p, source] of sources) {
        if (!path.isAbsolute(source))
          throw new Error(`product ${product.name}: source of ${p} must be an absolute path`);
        const dest = path.join(staged, ...p.split('/'));
        await fs.promises.mkdir(path.dirname(dest), { recursive: true });
        digests.set(p, await copyDigesting(source, dest));
      }
      const dest = path.join(this.root, product.name);
      const old = path.join(this.trash, tag);
      if (fs.existsSync(dest)) {
        await fs.promises.mkdir(this.trash, { recursive: true });
        await fs.promises.rename(dest, old);
      }
      await fs.promises.rename(staged, dest);
      await fs.promises.rm(old, { recursive: true, force: true });
    } catch (e) {
      await fs.promises.rm(staged, { recursive: true, force: true });
      throw e;
    }

    await this.db.transaction(async (tx) => {
      await tx.query('DELETE FROM archive_products WHERE name = $1', [product.name]); // files cascade
      await tx.query(
        `INSERT INTO archive_products (name, kind, subject, qa_flag, source_run_id, ingestion_run_id, ingested_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())`,
        [
          product.name,
          product.kind,
          product.subject,
          product.qaFlag,
          product.sourceRunId,
          product.ingestionRunId,
        ],
      );
      const seen = new Set<string>();
      for (const f of product.files) {
        const key = `${f.path}\0${f.role}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const d = digests.get(f.path) as { sha256: string; size: number };
        await tx.query(
          'INSERT INTO archive_files (product_name, path, size, sha256, role) VALUES ($1, $2, $3, $4, $5)',
          [product.name, f.path, d.size, d.sha256, f.role],
        );
      }
    });
    return (await this.product(product.name)) as Product;
  }

  async product(name: string): Promise<Product | null> {
    const rows = await this.db.query<ProductRow>('SELECT * FROM archive_products WHERE name = $1', [
      name,
    ]);
    if (rows.length === 0) return null;
    return (await this.withFiles(rows))[0];
  }

  async subject(
    subject: string,
  ): Promise<{ subject: string; calibrationStatus: CalibrationStatus; products: Product[] }> {
    const status = await this.db.query<{ calibration_status: CalibrationStatus }>(
      'SELECT calibration_status FROM archive_subjects WHERE subject = $1',
      [subject],
    );
    const rows = await this.db.query<ProductRow>(
      'SELECT * FROM archive_products WHERE subject = $1 ORDER BY ingested_at DESC, name',
      [subject],
    );
    return {
      subject,
      calibrationStatus: status[0]?.calibration_status ?? 'Unknown',
      products: await this.withFiles(rows),
    };
  }

  async productsOfRun(sourceRunId: number): Promise<Product[]> {
    const rows = await this.db.query<ProductRow>(
      'SELECT * FROM archive_products WHERE source_run_id = $1 ORDER BY ingested_at DESC, name',
      [sourceRunId],
    );
    return this.withFiles(rows);
  }

  async setCalibrationStatus(subject: string, status: CalibrationStatus): Promise<void> {
    if (!STATUSES.has(status))
      throw new Error(`unknown calibration status ${JSON.stringify(status)}`);
    await this.db.query(
      `INSERT INTO archive_subjects (subject, calibration_status, updated_at) VALUES ($1, $2, now())
       ON CONFLICT (subject) DO UPDATE SET calibration_status = EXCLUDED.calibration_status, updated_at = now()`,
      [subject, status],
    );
  }

  async setQaFlag(sourceRunId: number, flag: QaFlag): Promise<void> {
    if (!QA_FLAGS.has(flag)) throw new Error(`unknown QA flag ${JSON.stringify(flag)}`);
    await this.db.query('UPDATE archive_products SET qa_flag = $2 WHERE source_run_id = $1', [
      sourceRunId,
      flag,
    ]);
  }

  /**
   * True iff the source run has at least one product and every file asked about
   * (by sha256 and size) is a file of one of them whose stored bytes, hashed
   * again now, still match. An unknown run is never "held", even for an empty list.
   */
  async holds(
    sourceRunId: number,
    files: Array<{ sha256: string; size: number }>,
  ): Promise<boolean> {
    const rows = await this.db.query<FileRow>(
      `SELECT DISTINCT f.product_name, f.path, f.size, f.sha256
         FROM archive_files f JOIN archive_products p ON p.name = f.product_name
        WHERE p.source_run_id = $1`,
      [sourceRunId],
    );
    const products = await this.db.query(
      'SELECT 1 FROM archive_products WHERE source_run_id = $1 LIMIT 1',
      [sourceRunId],
    );
    if (products.length === 0) return false;
    const candidates = new Map<string, FileRow[]>();
    for (const r of rows) {
      const key = `${r.sha256}:${Number(r.size)}`;
      candidates.set(key, [...(candidates.get(key) ?? []), r]);
    }
    const verified = new Map<string, boolean>(); // stored file -> its bytes still match
    for (const f of files) {
      const stored = candidates.get(`${f.sha256}:${f.size}`) ?? [];
      let ok = false;
      for (const r of stored) {
        const file = this.filePath(r.product_name, r.path);
        if (!verified.has(file)) {
          // Read without following a link: a stored file replaced by one is not archived.
          const now = await digestFile(file).catch(() => null);
          verified.set(
            file,
            now !== null && now.sha256 === r.sha256 && now.size === Number(r.size),
          );
        }
        if (verified.get(file)) {
          ok = true;
          break;
        }
      }
      if (!ok) return false;
    }
    return true;
  }

  private async withFiles(rows: ProductRow[]): Promise<Product[]> {
    if (rows.length === 0) return [];
    const files = await this.db.query<FileRow>(
      'SELECT product_name, path, size, sha256, role FROM archive_files WHERE product_name = ANY($1::text[]) ORDER BY path, role',
      [rows.map((r) => r.name)],
    );
    const byProduct = new Map<string, ArchivedFile[]>();
    for (const f of files) {
      const list = byProduct.get(f.product_name) ?? [];
      list.push({ path: f.path, size: Number(f.size), sha256: f.sha256, role: f.role });
      byProduct.set(f.product_name, list);
    }
    return rows.map((r) => ({
      name: r.name,
      kind: r.kind,
      subject: r.subject,
      qaFlag: r.qa_flag,
      sourceRunId: Number(r.source_run_id),
      ingestionRunId: Number(r.ingestion_run_id),
      ingestedAt: new Date(r.ingested_at).toISOString(),
      files: byProduct.get(r.name) ?? [],
    }));
  }
}
