export * from './database';
export * from './pg-listener';
export * from './persistence.module';
export * from './leader-lock';
export * from './entities';
export * from './typeorm-options';
