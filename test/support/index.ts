export * from './stack';
export * from './amqp';
