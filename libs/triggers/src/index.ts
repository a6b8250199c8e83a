export * from './ingestion-message';
export * from './ingestion-consumer';
