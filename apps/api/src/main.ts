import { bootLogger } from '@wfs/logging';
import { Logger } from '@nestjs/common';
import { loadConfig } from '@wfs/config';
import { createApi } from './bootstrap';

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await createApi(config);
  await app.listen(config.port);
  new Logger('api').log(`listening on :${config.port}`);
}

main().catch((e: Error) => {
  bootLogger('api').fatal(`api failed to start: ${e.message}`);
  process.exit(1);
});
