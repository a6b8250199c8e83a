export * from './audit-entry';
export * from './audit-log';
export * from './audited.decorator';
export * from './audit-recorder';
export * from './audit.interceptor';
export * from './audit.module';
