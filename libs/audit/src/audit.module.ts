import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { Database } from '@wfs/persistence';
import { AuditInterceptor } from './audit.interceptor';
import { AuditLog } from './audit-log';
import { AuditRecorder } from './audit-recorder';

/** The audit log: its store, the recorder the API's error filter also uses, the interceptor. */
@Global()
@Module({
  providers: [
    { provide: AuditLog, inject: [Database], useFactory: (db: Database) => new AuditLog(db) },
    {
      provide: AuditRecorder,
      inject: [AuditLog],
      useFactory: (log: AuditLog) => new AuditRecorder(log),
    },
    { provide: APP_INTERCEPTOR, useClass: AuditInterceptor },
  ],
  exports: [AuditLog, AuditRecorder],
})
export class AuditModule {}
