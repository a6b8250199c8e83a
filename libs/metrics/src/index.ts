export * from './durable-metrics';
export * from './service-metrics';
