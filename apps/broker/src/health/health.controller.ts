import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { OPENAPI_JSON_PATH } from '../api/openapi.js';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { pageCsp } from '../http/security-headers.js';
import { PresenceService } from '../presence/presence.service.js';
import { WEB_APP_CSP, type WebApp } from '../web/web-app.js';
import { WEB_APP, sendAsset } from '../web/web.controller.js';
import { BROKER_VERSION, INVITE_HOWTO, JOIN_COMMAND, statusHtml, type BrokerStatus } from './status-page.js';

const READY_TIMEOUT_MS = 2_000;

@Controller()
export class HealthController {
  constructor(
    private readonly ds: DataSource,
    private readonly presence: PresenceService,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
    @Inject(WEB_APP) private readonly web: WebApp | null,
  ) {}

  /**
   * The front page: the web app for a browser (an Accept that names text/html) when it is built, the
   * status page otherwise; JSON status for anything else (scripts, health checks).
   */
  @Get()
  async front(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<BrokerStatus | string | Buffer> {
    if (this.web && wantsHtml(req.headers.accept)) return sendAsset(req, reply, this.web.index, WEB_APP_CSP);
    return this.status(req, reply);
  }

  /**
   * The broker's status page: version, health and how to join, as HTML for a browser and JSON
   * otherwise. Nothing on it is secret: no mesh, member or token.
   */
  @Get('status')
  async status(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<BrokerStatus | string> {
    const ready = (await this.probe()) === null;
    const status: BrokerStatus = {
      service: 'claudemesh broker',
      version: BROKER_VERSION,
      protocol: 1,
      status: ready ? 'ok' : 'degraded',
      database: ready ? 'ready' : 'unavailable',
      connections: this.presence.connectionCount,
      public_url: this.config.publicUrl?.replace(/\/$/, '') ?? null,
      paths: { websocket: '/ws', rest: '/api/v1', openapi: `/${OPENAPI_JSON_PATH}`, health: '/healthz', ready: '/readyz', status: '/status', web: this.web ? '/' : null },
      join: { command: JOIN_COMMAND, invite: INVITE_HOWTO },
    };
    void reply.header('vary', 'accept');
    if (!wantsHtml(req.headers.accept)) return status;
    const html = statusHtml(status);
    // Its own policy: no script at all, only its one inline style (by hash).
    void reply.header('content-type', 'text/html; charset=utf-8').header('content-security-policy', pageCsp(html));
    return html;
  }

  /** Liveness: the process serves HTTP. */
  @Get('healthz')
  healthz() {
    return { status: 'ok', connections: this.presence.connectionCount };
  }

  /** Readiness: the database answers within two seconds. */
  @Get('readyz')
  async readyz(@Res({ passthrough: true }) reply: FastifyReply) {
    const failure = await this.probe();
    if (failure === null) return { ready: true };
    void reply.status(503);
    return { ready: false, reason: failure };
  }

  /** null when the database answers within READY_TIMEOUT_MS, else why not. */
  private async probe(): Promise<string | null> {
    const probe = this.ds.query('SELECT 1');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS)));
    try {
      await Promise.race([probe, timeout]);
      return null;
    } catch (error) {
      probe.catch(() => undefined);
      return (error as Error).message;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A browser names text/html; curl (`*\/*`) and programs asking for JSON get JSON. */
function wantsHtml(accept: string | undefined): boolean {
  const a = (accept ?? '').toLowerCase();
  const html = a.indexOf('text/html');
  const json = a.indexOf('application/json');
  return html >= 0 && (json < 0 || html < json);
}
