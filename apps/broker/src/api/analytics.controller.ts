import { Controller, Get, Param, Query, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AnalyticsQuery, MeshAnalytics, ProtocolError, Uuid } from '@claudemesh/core';
import type { z } from 'zod';
import { AnalyticsService } from '../analytics/analytics.service.js';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { BearerGuard, Caller } from './bearer.guard.js';
import { BearerRoute, SignedRoute } from './route.decorators.js';
import { SignedMember, SignedMemberGuard, type SignedCaller } from './signed-member.guard.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

export const ANALYTICS_DESCRIPTION =
  'Per-mesh analytics from metadata only (docs/protocol.md §8.7): messages, topic posts and confirmed deliveries per hour or UTC day, ' +
  'handoff latency percentiles (accepted → delivered confirmation; the upper bound of the histogram bucket), the busiest topics the caller can see ' +
  'and each member’s time online. Owner or admin, with admin rights over the whole mesh. `window` is 24h (default), 7d or 30d; ' +
  '`bucket` is hour or day (default: hour for 24h, day beyond).';

/** `claudemesh mesh stats`: the analytics of a mesh, signed with the member key. */
@ApiTags('analytics')
@Controller('api/v1/meshes/:meshId/analytics')
@UseGuards(SignedMemberGuard)
@UsePipes(WireSchemaPipe)
export class MeshAnalyticsController {
  constructor(private readonly analytics: AnalyticsService) {}

  @Get()
  @SignedRoute({ summary: 'Mesh analytics (owner or admin)', description: ANALYTICS_DESCRIPTION, ok: MeshAnalytics, errors: [400, 404] })
  get(
    @SignedMember() caller: SignedCaller,
    @Param('meshId', { schema: Uuid }) _meshId: string,
    @Query({ schema: AnalyticsQuery }) query: z.output<typeof AnalyticsQuery>,
  ): Promise<z.output<typeof MeshAnalytics>> {
    return this.analytics.forMesh(caller.state, caller.member, query.window, query.bucket);
  }
}

/** The same analytics with an admin API key of an owner or admin (dashboards, scripts). */
@ApiTags('analytics')
@Controller('api/v1/analytics')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class AnalyticsController {
  constructor(private readonly analytics: AnalyticsService) {}

  @Get()
  @BearerRoute('admin', { summary: 'Mesh analytics (an owner’s or admin’s key, not limited to topics)', description: ANALYTICS_DESCRIPTION, ok: MeshAnalytics, errors: [400] })
  get(@Caller() caller: ApiCaller, @Query({ schema: AnalyticsQuery }) query: z.output<typeof AnalyticsQuery>): Promise<z.output<typeof MeshAnalytics>> {
    if (caller.topics) throw new ProtocolError('E_FORBIDDEN', 'this key is limited to topics; mesh analytics cover the whole mesh');
    return this.analytics.forMesh(caller.state, caller.member, query.window, query.bucket);
  }
}
