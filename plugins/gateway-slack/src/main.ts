// The gateway-slack plugin's entry (being built: docs/gateways.md).
export {};
