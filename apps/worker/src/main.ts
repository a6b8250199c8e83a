import { bootLogger } from '@wfs/logging';
import { loadConfig } from '@wfs/config';
import { createWorker } from './bootstrap';

createWorker(loadConfig()).catch((e: Error) => {
  bootLogger('worker').fatal(`worker failed to start: ${e.message}`);
  process.exit(1);
});
