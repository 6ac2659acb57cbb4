// The gateway-whatsapp plugin's entry (being built: docs/gateways.md).
export {};
