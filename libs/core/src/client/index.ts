export * from './mesh-client.js';
export * from './hello-frame.js';
export * from './rest-client.js';
export * from './client-id.js';
export * from './backoff.js';
export * from './seen-set.js';
export * from './home.js';
export * from './api-client.js';
