export * from './surface.js';
export { GatewayCommon, GatewayCommonConfig, MAX_INBOUND_CHARS, chatLine, inboundId, runGateway, startGateway } from './gateway.js';
export { LINK_TTL_DEFAULT_S, LINK_TTL_MAX_S, encodeControl, linkCodeHash, newLinkCode, normalizeLinkCode, parseControl, type GatewayControl } from './link.js';
export { splitText } from './split.js';
export { GatewayState, type LinkedUser, type MeshRef, type PendingLink } from './state.js';
