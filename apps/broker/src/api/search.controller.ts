import { Controller, Get, Inject, Query, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { SearchQuery, TopicMessage } from '@claudemesh/core';
import type { z } from 'zod';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { RateLimitedError } from '../http/rate-limited.error.js';
import { TokenBuckets } from '../http/token-buckets.js';
import { TopicsService } from '../topics/topics.service.js';
import { BearerGuard, Caller, scopeOf } from './bearer.guard.js';
import { BearerRoute } from './route.decorators.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

const DESCRIPTION = [
  'Full-text search (Postgres `simple` configuration, websearch syntax: words, "phrases", -not, or) over the topics the key may read;',
  'ranked, newest first among equals. Only the newest 1 000 matches (CLAUDEMESH_SEARCH_CANDIDATES) are ranked.',
  'Each key may start a burst of searches, then a few a minute (429 `E_RATE_LIMITED` with `retry_after_ms` beyond);',
  'a search the database stops at its time limit is 503 `E_UNAVAILABLE`.',
].join(' ');

@ApiTags('search')
@Controller('api/v1/search')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class SearchController {
  /** Per API key: searches are the one read whose cost grows with the mesh's whole history. */
  private readonly perKey: TokenBuckets;

  constructor(
    private readonly topics: TopicsService,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {
    this.perKey = new TokenBuckets(config.rest.search.perKey);
  }

  @Get()
  @BearerRoute('read', { summary: 'Search topic messages', description: DESCRIPTION, ok: TopicMessage.array(), errors: [400, 404, 429] })
  search(@Caller() caller: ApiCaller, @Query({ schema: SearchQuery }) query: z.output<typeof SearchQuery>): Promise<Array<z.output<typeof TopicMessage>>> {
    const wait = this.perKey.take(caller.keyId);
    if (wait > 0) {
      const { burst, perMinute } = this.config.rest.search.perKey;
      throw new RateLimitedError(`this API key searched ${burst} times in a row, its burst (then ${perMinute} a minute); retry in ${Math.ceil(wait / 1000)} s`, wait);
    }
    return this.topics.search(scopeOf(caller), query);
  }
}
