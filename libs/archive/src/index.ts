export * from './archive';
export * from './local-archive';
export * from './archive.module';
