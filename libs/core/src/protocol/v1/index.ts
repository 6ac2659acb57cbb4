export * from './errors.js';
export * from './primitives.js';
export * from './client-frames.js';
export * from './server-frames.js';
export * from './rest.js';
export * from './codec.js';
export * from './body.js';
export * from './api.js';
