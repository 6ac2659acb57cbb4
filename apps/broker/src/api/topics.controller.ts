import { Body, Controller, Get, Patch, Post, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { CreateTopicBody, MarkReadBody, TopicInfo } from '@claudemesh/core';
import type { z } from 'zod';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { TopicsService } from '../topics/topics.service.js';
import { LeftTopic, ReadMark } from './api.schemas.js';
import { BearerGuard, Caller, scopeOf } from './bearer.guard.js';
import { TopicParam } from './params.js';
import { BearerRoute } from './route.decorators.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

/** Topics (docs/topics.md): list, create, look up, join, leave, read marks. */
@ApiTags('topics')
@Controller('api/v1/topics')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class TopicsController {
  constructor(private readonly topics: TopicsService) {}

  @Get()
  @BearerRoute('read', { summary: 'Topics the key may see, with joined, unread and member counts', ok: TopicInfo.array() })
  list(@Caller() caller: ApiCaller): Promise<Array<z.output<typeof TopicInfo>>> {
    return this.topics.list(scopeOf(caller));
  }

  @Post()
  @BearerRoute('send', { summary: 'Create a topic (the creator joins it)', ok: TopicInfo, status: 201, errors: [400, 409] })
  create(@Caller() caller: ApiCaller, @Body({ schema: CreateTopicBody }) body: z.output<typeof CreateTopicBody>): Promise<z.output<typeof TopicInfo>> {
    return this.topics.create(scopeOf(caller), body);
  }

  @Get(':name')
  @BearerRoute('read', { summary: 'One topic', ok: TopicInfo, errors: [400, 404] })
  async get(@Caller() caller: ApiCaller, @TopicParam() name: string): Promise<z.output<typeof TopicInfo>> {
    const scope = scopeOf(caller);
    await this.topics.resolve(scope, name);
    return (await this.topics.list(scope)).find((t) => t.name === name)!;
  }

  @Post(':name/join')
  @BearerRoute('send', { summary: 'Join a public topic (a private one needs a member of it to add you)', ok: TopicInfo, errors: [400, 404] })
  join(@Caller() caller: ApiCaller, @TopicParam() name: string): Promise<z.output<typeof TopicInfo>> {
    return this.topics.join(scopeOf(caller), name);
  }

  @Post(':name/leave')
  @BearerRoute('send', { summary: 'Leave a topic', ok: LeftTopic, errors: [400, 404] })
  leave(@Caller() caller: ApiCaller, @TopicParam() name: string): Promise<z.output<typeof LeftTopic>> {
    return this.topics.leave(scopeOf(caller), name);
  }

  @Patch(':name/read')
  @BearerRoute('send', { summary: 'Move the read mark forward (to message_id, default the newest)', ok: ReadMark, errors: [400, 404] })
  markRead(@Caller() caller: ApiCaller, @TopicParam() name: string, @Body({ schema: MarkReadBody }) body: z.output<typeof MarkReadBody>): Promise<z.output<typeof ReadMark>> {
    return this.topics.markRead(scopeOf(caller), name, body);
  }
}
