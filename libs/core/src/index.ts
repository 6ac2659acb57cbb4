export * from './protocol/v1/index.js';
export * from './client/index.js';
