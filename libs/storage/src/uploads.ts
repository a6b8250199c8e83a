import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WfsError } from '@wfs/domain';
import { createTemp, install, removeFile } from './confined-fs';

export interface StoredFile {
  size: number;
  sha256: string;
}

/** Bytes staged in a run's directory under a temporary name, not yet under their own. */
export interface StagedFile extends StoredFile {
  /** Puts the bytes under `name`; keep() once the record is committed, undo() if it is not. */
  install(name: string): Promise<{ keep: () => Promise<void>; undo: () => Promise<void> }>;
  /** Removes the staged bytes (a no-op once installed). */
  discard(): Promise<void>;
}

/**
 * Streams an upload into a new file of `dir` (made exclusively, never through
 * a link), hashing and counting as it goes. Stops reading with a 413 as soon
 * as the limit is passed (the rest is never buffered). Nothing appears under
 * the file's own name until `install`, so a refused upload changes nothing.
 */
export async function stageUpload(
  source: Readable,
  dir: string,
  maxBytes: number,
): Promise<StagedFile> {
  const temp = await createTemp(dir, '.upload-');
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) {
        done(
          new WfsError(
            'too_large',
            'FILE_TOO_LARGE',
            `The file is larger than the limit of ${maxBytes} bytes.`,
            { limit: maxBytes },
          ),
        );
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(source, meter, temp.handle.createWriteStream());
  } catch (e) {
    await temp.handle.close().catch(() => undefined);
    await removeFile(temp.path);
    throw e;
  }
  let installed = false;
  return {
    size,
    sha256: hash.digest('hex'),
    install: async (name) => {
      const done = await install(temp.path, name);
      installed = true;
      return done;
    },
    discard: async () => {
      if (!installed) await removeFile(temp.path);
    },
  };
}

/** Stages and installs at once: for a directory no one else can see yet (a run being created). */
export async function storeUpload(
  source: Readable,
  dir: string,
  name: string,
  maxBytes: number,
): Promise<StoredFile> {
  const staged = await stageUpload(source, dir, maxBytes);
  try {
    await (await staged.install(name)).keep();
  } catch (e) {
    await staged.discard();
    throw e;
  }
  return { size: staged.size, sha256: staged.sha256 };
}
