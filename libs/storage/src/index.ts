export * from './confined-fs';
export * from './file-digest';
export * from './run-directories';
export * from './uploads';
export * from './storage.module';
