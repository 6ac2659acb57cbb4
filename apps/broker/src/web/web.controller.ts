import { Body, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeEndpoint } from '@nestjs/swagger';
import { WebSessionBody, type WebSessionSealed } from '@claudemesh/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseBody } from '../common/parse.js';
import { PublicRoute } from '../http/public-attempts.js';
import { WEB_APP_CSP, type WebApp, type WebAsset } from './web-app.js';
import { WebSignInsService } from './web-signins.service.js';

export const WEB_APP = Symbol('WEB_APP');

/** Writes one of the app's files: gzipped when the client takes it, 304 for a matching ETag. */
export function sendAsset(req: FastifyRequest, reply: FastifyReply, asset: WebAsset, csp?: string): Buffer | string {
  void reply.header('content-type', asset.type).header('etag', asset.etag).header('vary', 'accept, accept-encoding');
  void reply.header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (csp) void reply.header('content-security-policy', csp);
  if (req.headers['if-none-match'] === asset.etag) {
    void reply.status(304);
    return '';
  }
  if (asset.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    void reply.header('content-encoding', 'gzip');
    return asset.gzip;
  }
  return asset.body;
}

/** The web app's static files (docs/web.md); `/` itself is HealthController's (it also answers JSON). */
@Controller()
export class WebAssetsController {
  constructor(@Inject(WEB_APP) private readonly app: WebApp | null) {}

  private serve(req: FastifyRequest, reply: FastifyReply, path: string, csp?: string): Buffer | string {
    const asset = this.app?.file(path);
    if (!asset) throw new NotFoundException();
    return sendAsset(req, reply, asset, csp);
  }

  @Get('assets/:file')
  @ApiExcludeEndpoint()
  asset(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply, @Param('file') file: string) {
    return this.serve(req, reply, `assets/${file}`);
  }

  @Get('icons/:file')
  @ApiExcludeEndpoint()
  icon(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply, @Param('file') file: string) {
    return this.serve(req, reply, `icons/${file}`);
  }

  @Get('manifest.webmanifest')
  @ApiExcludeEndpoint()
  manifest(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    return this.serve(req, reply, 'manifest.webmanifest');
  }

  /** A worker runs under the policy its script is served with: the page's, so it may fetch this origin. */
  @Get('sw.js')
  @ApiExcludeEndpoint()
  worker(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    return this.serve(req, reply, 'sw.js', WEB_APP_CSP);
  }
}

/**
 * The one route of a web sign-in link without credentials: its lookup, answered once (docs/protocol.md
 * §8.5). Outside the bearer document, like the invite routes; failures count against the address.
 */
@Controller('api/v1/web')
export class WebSessionController {
  constructor(private readonly signins: WebSignInsService) {}

  @Post('session')
  @HttpCode(200)
  @PublicRoute()
  take(@Body() body: unknown): Promise<WebSessionSealed> {
    return this.signins.take(parseBody(WebSessionBody, body).lookup);
  }
}
