/** The files of a product being built: listing and hashing them (through the storage module). */
import { digestFile, listFiles } from '@wfs/storage';

/** Regular files under dir, as sorted relative POSIX paths; links and specials are skipped (and logged). */
export const filesUnder = (dir: string, log: (l: string) => void): Promise<string[]> =>
  listFiles(dir, (rel) => log(`skipped ${rel}: not a regular file`));

/** sha256 and size of a file of the product, read without following a link. */
export async function sha256Of(file: string): Promise<{ sha256: string; size: number }> {
  const digest = await digestFile(file);
  if (!digest) throw new Error(`${file} is gone`);
  return digest;
}
