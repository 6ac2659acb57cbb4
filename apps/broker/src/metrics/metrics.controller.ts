import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { ApiExcludeEndpoint } from '@nestjs/swagger';
import { ProtocolError } from '@claudemesh/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { BrokerMetrics } from './broker-metrics.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * `GET /metrics`, the Prometheus text exposition (docs/self-hosting.md "Metrics"). With
 * CLAUDEMESH_METRICS_TOKEN set it needs `Authorization: Bearer <token>` (401 otherwise); unset, it
 * answers only a loopback peer that came through no proxy (403 otherwise). CLAUDEMESH_METRICS=off: 404.
 */
@Controller()
export class MetricsController {
  private readonly token: Buffer | null;

  constructor(
    private readonly metrics: BrokerMetrics,
    @Inject(BROKER_CONFIG) config: BrokerConfig,
  ) {
    this.token = config.metrics.token === undefined ? null : digest(config.metrics.token);
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  async scrape(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    if (!this.metrics.enabled) throw new ProtocolError('E_NOT_FOUND', 'no such route');
    this.authorize(req, reply);
    void reply.header('content-type', this.metrics.registry.contentType).header('cache-control', 'no-store');
    return this.metrics.registry.metrics();
  }

  private authorize(req: FastifyRequest, reply: FastifyReply): void {
    if (this.token) {
      const match = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '');
      // Both sides hashed first: equal lengths for timingSafeEqual, and no length leaks.
      if (match && timingSafeEqual(digest(match[1]!), this.token)) return;
      void reply.header('www-authenticate', 'Bearer realm="claudemesh metrics"');
      throw new ProtocolError('E_UNAUTHORIZED', 'metrics need Authorization: Bearer <CLAUDEMESH_METRICS_TOKEN>');
    }
    // The socket's own peer, never X-Forwarded-For; and a request a proxy forwarded is not local,
    // even when the proxy itself runs on this host.
    const proxied = req.headers['x-forwarded-for'] !== undefined || req.headers['forwarded'] !== undefined;
    if (!proxied && LOOPBACK.has(req.socket.remoteAddress ?? '')) return;
    throw new ProtocolError('E_FORBIDDEN', 'metrics answer loopback clients only; set CLAUDEMESH_METRICS_TOKEN to scrape from elsewhere');
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
