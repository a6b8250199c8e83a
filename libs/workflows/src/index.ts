export * from './load-definitions';
export * from './workflow-catalog';
export * from './workflows.module';
