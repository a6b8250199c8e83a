export * from './confined-fs';
export * from './run-directories';
export * from './uploads';
export * from './storage.module';
