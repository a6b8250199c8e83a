export * from './outbox';
export * from './broker-probe';
export * from './amqp-connection';
export * from './topology';
export * from './outbox-relay';
