export * from './errors';
export * from './states';
export * from './definition';
export * from './dag';
export * from './template';
export * from './casa';
export * from './events';
export * from './names';
