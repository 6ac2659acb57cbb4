import { Controller, Get, Query, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { SearchQuery, TopicMessage } from '@claudemesh/core';
import type { z } from 'zod';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { TopicsService } from '../topics/topics.service.js';
import { BearerGuard, Caller, scopeOf } from './bearer.guard.js';
import { BearerRoute } from './route.decorators.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

const DESCRIPTION = 'Full-text search (Postgres `simple` configuration, websearch syntax: words, "phrases", -not, or) over the topics the key may read; ranked, newest first among equals.';

@ApiTags('search')
@Controller('api/v1/search')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class SearchController {
  constructor(private readonly topics: TopicsService) {}

  @Get()
  @BearerRoute('read', { summary: 'Search topic messages', description: DESCRIPTION, ok: TopicMessage.array(), errors: [400, 404] })
  search(@Caller() caller: ApiCaller, @Query({ schema: SearchQuery }) query: z.output<typeof SearchQuery>): Promise<Array<z.output<typeof TopicMessage>>> {
    return this.topics.search(scopeOf(caller), query);
  }
}
