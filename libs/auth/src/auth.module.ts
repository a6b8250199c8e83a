import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { Database } from '@wfs/persistence';
import { AuthGuard } from './auth.guard';
import { TokenService } from './tokens';

@Global()
@Module({
  providers: [
    {
      provide: TokenService,
      inject: [Database, WFS_CONFIG],
      useFactory: (db: Database, c: WfsConfig) => new TokenService(db, c),
    },
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [TokenService],
})
export class AuthModule {}
