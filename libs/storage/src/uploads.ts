import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { WfsError } from '@wfs/domain';

export interface StoredFile {
  size: number;
  sha256: string;
}

/**
 * Streams an upload into `dir/name`, hashing and counting as it goes. Stops
 * reading with a 413 as soon as the limit is passed (the rest is never
 * buffered), and only a complete file ever appears under its name.
 */
export async function storeUpload(
  source: Readable,
  dir: string,
  name: string,
  maxBytes: number,
): Promise<StoredFile> {
  const temp = path.join(dir, `.upload-${randomBytes(6).toString('hex')}`);
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
    await pipeline(source, meter, fs.createWriteStream(temp, { flags: 'wx' }));
    await fs.promises.rename(temp, path.join(dir, name));
  } catch (e) {
    await fs.promises.rm(temp, { force: true });
    throw e;
  }
  return { size, sha256: hash.digest('hex') };
}
