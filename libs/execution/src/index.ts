export * from './executor';
export * from './local-executor';
export * from './tools';
export * from './builtins';
export * from './execute-job';
export * from './execution.module';
export * from './recovery';
