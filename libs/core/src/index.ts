export * from './protocol/v1/index.js';
export * from './client/index.js';
export * from './transport/corked-send.js';
export * from './web/web-signin.js';
