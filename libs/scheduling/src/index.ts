export * from './scheduler';
export * from './controls';
export * from './scheduling.module';
