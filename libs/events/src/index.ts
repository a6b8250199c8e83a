export * from './outbox';
export * from './broker-probe';
