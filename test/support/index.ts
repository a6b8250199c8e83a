export * from './stack';
export * from './amqp';
export * from './processes';
export * from './faults';
export * from './cli';
export * from './netns';
