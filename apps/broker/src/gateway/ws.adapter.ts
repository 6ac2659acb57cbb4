import { Logger } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { WebSocketServer } from 'ws';

/**
 * Nest's WsAdapter with two changes: frames are decoded by the gateway (libs/core codec), not by
 * Nest's event router; and a client's protocol violation (e.g. a frame above the hard cap, which
 * ws answers with close 1009) is logged at debug level, so a public socket cannot flood the log.
 */
export class BrokerWsAdapter extends WsAdapter {
  private readonly wsLogger = new Logger('WebSocket');

  constructor(app: ConstructorParameters<typeof WsAdapter>[0]) {
    super(app, { messageParser: () => undefined });
  }

  override bindErrorHandler(server: WebSocketServer): WebSocketServer {
    server.on('connection', (ws) => ws.on('error', (err: Error) => this.wsLogger.debug(`client error: ${err.message}`)));
    server.on('error', (err: Error) => this.wsLogger.error(err.message));
    return server;
  }
}
