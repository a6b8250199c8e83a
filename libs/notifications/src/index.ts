export * from './mail-content';
export * from './mail-transport';
export * from './notifier';
export * from './notifications.module';
