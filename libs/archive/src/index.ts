export * from './archive';
export * from './local-archive';
export { isSafeProductName, isSafeProductPath } from './product-rules';
export * from './archive.module';
