import { loadConfig } from '@wfs/config';
import { createWorker } from './bootstrap';

createWorker(loadConfig()).catch((e: Error) => {
  console.error(`worker failed to start: ${e.message}`);
  process.exit(1);
});
