export * from './dispatcher';
export * from './dispatch.module';
