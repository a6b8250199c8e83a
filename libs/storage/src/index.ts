export * from './safe-paths';
export * from './run-directories';
export * from './uploads';
export * from './storage.module';
