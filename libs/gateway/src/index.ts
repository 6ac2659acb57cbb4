export * from './surface.js';
export { chatLine, inboundId } from './chat-text.js';
export { GatewayCommon, GatewayCommonConfig } from './config.js';
export { MAX_INBOUND_CHARS, startGateway } from './gateway.js';
export { runGateway } from './run.js';
export { LINK_TTL_DEFAULT_S, LINK_TTL_MAX_S, encodeControl, linkCodeHash, newLinkCode, normalizeLinkCode, parseControl, type GatewayControl } from './link.js';
export { splitText } from './split.js';
export { GatewayState, type LinkedUser, type MeshRef, type PendingLink } from './state.js';
