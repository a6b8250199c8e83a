export * from './database';
export * from './notifications';
export * from './persistence.module';
