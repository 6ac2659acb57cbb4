import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { PresenceService } from '../presence/presence.service.js';

const READY_TIMEOUT_MS = 2_000;

@Controller()
export class HealthController {
  constructor(
    private readonly ds: DataSource,
    private readonly presence: PresenceService,
  ) {}

  /** Liveness: the process serves HTTP. */
  @Get('healthz')
  healthz() {
    return { status: 'ok', connections: this.presence.connectionCount };
  }

  /** Readiness: the database answers within two seconds. */
  @Get('readyz')
  async readyz(@Res({ passthrough: true }) reply: FastifyReply) {
    const probe = this.ds.query('SELECT 1');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS)));
    try {
      await Promise.race([probe, timeout]);
      return { ready: true };
    } catch (error) {
      probe.catch(() => undefined);
      void reply.status(503);
      return { ready: false, reason: (error as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }
}
