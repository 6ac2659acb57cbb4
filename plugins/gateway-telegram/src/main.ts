// The gateway-telegram plugin's entry (being built: docs/gateways.md).
export {};
