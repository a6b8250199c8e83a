import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { getRepositoryToken, TypeOrmModule } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { WFS_CONFIG } from '@wfs/config';
import type { WfsConfig } from '@wfs/config';
import { ApiTokenEntity, Database } from '@wfs/persistence';
import { AuthGuard } from './auth.guard';
import { TokenService } from './tokens';

@Global()
@Module({
  imports: [TypeOrmModule.forFeature([ApiTokenEntity])],
  providers: [
    {
      provide: TokenService,
      inject: [Database, WFS_CONFIG, getRepositoryToken(ApiTokenEntity)],
      useFactory: (db: Database, c: WfsConfig, tokens: Repository<ApiTokenEntity>) =>
        new TokenService(db, c, tokens),
    },
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [TokenService],
})
export class AuthModule {}
