import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { cryptoReady } from '@claudemesh/crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { mountOpenApi } from './api/openapi.js';
import { AppModule } from './app.module.js';
import { newlineAfterJson, requireJsonBodies } from './common/json-bodies.js';
import { clientErrorReply, frameworkErrorReply } from './common/protocol-exception.filter.js';
import { registerRequestShapeChecks } from './common/request-shape.js';
import { publicUrlOf, type BrokerConfig } from './config/broker.config.js';
import { openDatabase, resolveDatabaseTarget } from './db/database.config.js';
import { ENTITIES } from './db/entities.js';
import { HARD_MAX_PAYLOAD } from './gateway/mesh.gateway.js';
import { BrokerWsAdapter } from './gateway/ws.adapter.js';
import { fastifyOptionsOf } from './http/server-options.js';
import { BrokerMetrics } from './metrics/broker-metrics.js';
import { guardConnections, type ConnectionCounts } from './http/connection-guard.js';
import { addSecurityHeaders } from './http/security-headers.js';
import { BrokerLogger, defaultLogFormat, setCurrentLogger } from './logging/broker-logger.js';
import { registerSecret } from './logging/redact.js';
import { addRequestLogging, requestIdOf } from './logging/request-log.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));

export interface RunningBroker {
  app: NestFastifyApplication;
  config: BrokerConfig;
  port: number;
  /** http://host:port as peers should use it. */
  url: string;
  wsUrl: string;
  databaseKind: 'embedded' | 'postgres';
  /** Open sockets of the HTTP server (HTTP, SSE, WebSocket), in total and per client address. */
  connections: ConnectionCounts;
  close(): Promise<void>;
}

/**
 * Opens (and migrates) the database, then builds and binds the Nest app. A migration failure
 * throws before anything listens.
 */
export async function startBroker(config: BrokerConfig): Promise<RunningBroker> {
  await cryptoReady();
  const logger = loggerFor(config);
  // Before the database opens (seconds for an embedded one), and instead of Nest's own log line.
  await assertPortFree(config.port, config.host);
  const database = await openDatabase(resolveDatabaseTarget({ DATABASE_URL: config.databaseUrl, DATA_DIR: config.dataDir }), config.migrationsDir, ENTITIES, {
    ...(config.embeddedSharedBuffers ? { embedded: { sharedBuffers: config.embeddedSharedBuffers } } : {}),
  });
  let app: NestFastifyApplication;
  let connections: ConnectionCounts;
  try {
    app = await NestFactory.create<NestFastifyApplication>(
      AppModule.forRoot(config, database.dataSource),
      new FastifyAdapter({ ...fastifyOptionsOf(config.rest.http), bodyLimit: HARD_MAX_PAYLOAD, frameworkErrors: frameworkErrorReply, clientErrorHandler: clientErrorReply, genReqId: requestIdOf }),
      { rawBody: true, logger, abortOnError: false },
    );
    const metrics = app.get(BrokerMetrics);
    connections = guardConnections(app.getHttpServer(), config.rest.http, (code) => {
      metrics.error(code);
      // error() counts E_RATE_LIMITED as a refusal itself; E_UNAVAILABLE is one only here (the connection cap).
      if (code === 'E_UNAVAILABLE') metrics.refusal(code);
    });
    const fastify = app.getHttpAdapter().getInstance();
    addRequestLogging(fastify, logger);
    addSecurityHeaders(fastify);
    requireJsonBodies(fastify);
    newlineAfterJson(fastify);
    app.useWebSocketAdapter(new BrokerWsAdapter(app));
    registerRequestShapeChecks(app.getHttpAdapter().getInstance());
    mountOpenApi(app);
    await app.listen(config.port, config.host);
  } catch (error) {
    await database.close();
    throw error;
  }
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = publicUrlOf(config, port);
  let closed = false;
  return {
    app,
    config,
    port,
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/ws`,
    databaseKind: database.kind,
    connections,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await database.close();
      Logger.flush();
    },
  };
}

/**
 * The broker's logger (logging/broker-logger.ts), made the one every `new Logger('X')` writes to;
 * the secrets the configuration holds are scrubbed from every message from now on.
 */
function loggerFor(config: BrokerConfig): BrokerLogger {
  for (const secret of [
    config.adminToken,
    config.metrics.token,
    config.push.vapidPrivateKey,
    config.mail?.transport.kind === 'postmark' ? config.mail.transport.token : undefined,
    config.mail?.transport.kind === 'smtp' ? passwordOf(config.mail.transport.url) : undefined,
    config.databaseUrl ? passwordOf(config.databaseUrl) : undefined,
  ]) {
    registerSecret(secret);
  }
  const logger = new BrokerLogger({ level: config.logLevel, format: config.logFormat ?? defaultLogFormat() });
  setCurrentLogger(logger);
  Logger.overrideLogger(logger);
  return logger;
}

const passwordOf = (url: string): string | undefined => {
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
};

/** Thrown when PORT is taken: the operator's fix, in one line (main.ts prints it as is). */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly host: string,
  ) {
    super(`port ${port} is in use on ${host}; set PORT=<another port> (e.g. PORT=${port + 1} npm start) or stop the other broker`);
  }
}

/** Binds and releases the port once, so a taken one fails fast with PortInUseError. Port 0 is always free. */
async function assertPortFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? new PortInUseError(port, host) : error));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}
