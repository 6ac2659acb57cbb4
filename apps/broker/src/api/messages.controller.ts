import { Body, Controller, Get, Post, Query, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HistoryQuery, PostMessageBody, TopicPostBody } from '@claudemesh/core';
import type { z } from 'zod';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { TopicsService } from '../topics/topics.service.js';
import { HistoryPage, MessagesQuery, PostedMessage } from './api.schemas.js';
import { BearerGuard, Caller, scopeOf } from './bearer.guard.js';
import { TopicParam } from './params.js';
import { BearerRoute } from './route.decorators.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

const POST_DESCRIPTION = 'Posting joins a public topic. A retry with the same client_id and text returns the stored message with duplicate: true.';
const POST_TOPIC_DESCRIPTION =
  `${POST_DESCRIPTION} A plaintext topic takes text (body_version 1); an e2e topic takes body_version 2, sealed under its current key epoch ` +
  "by the key's member, which must hold its keypair, and checked as topic_send (docs/protocol.md §5.2): 409 `E_EPOCH_STALE` with " +
  '`current_epoch` for another epoch, 400 `E_MESSAGE_INVALID` when not signed by that member for this mesh, topic, epoch and client_id, ' +
  '400 `E_TOPIC_MODE` for the other body version. client_id is required with body_version 2 (it is the signed message id).';
const HISTORY_DESCRIPTION = '`before` pages back, `after` catches up; messages come oldest first, and has_more says whether another page exists.';

/** Topic history and posting, by topic in the path or (for scripts) in the body or query. */
@ApiTags('messages')
@Controller('api/v1')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class MessagesController {
  constructor(private readonly topics: TopicsService) {}

  @Get('topics/:name/messages')
  @BearerRoute('read', { summary: 'A page of a topic’s history', description: HISTORY_DESCRIPTION, ok: HistoryPage, errors: [400, 404] })
  history(@Caller() caller: ApiCaller, @TopicParam() name: string, @Query({ schema: HistoryQuery }) query: z.output<typeof HistoryQuery>): Promise<z.output<typeof HistoryPage>> {
    return this.topics.history(scopeOf(caller), name, query);
  }

  @Post('topics/:name/messages')
  @BearerRoute('send', { summary: 'Post to a topic', description: POST_TOPIC_DESCRIPTION, ok: PostedMessage, status: 201, errors: [400, 404, 409] })
  post(@Caller() caller: ApiCaller, @TopicParam() name: string, @Body({ schema: TopicPostBody }) body: z.output<typeof TopicPostBody>): Promise<z.output<typeof PostedMessage>> {
    return this.topics.post(scopeOf(caller), name, body);
  }

  @Get('messages')
  @BearerRoute('read', { summary: 'A page of a topic’s history (topic in the query)', description: HISTORY_DESCRIPTION, ok: HistoryPage, errors: [400, 404] })
  historyByQuery(@Caller() caller: ApiCaller, @Query({ schema: MessagesQuery }) query: z.output<typeof MessagesQuery>): Promise<z.output<typeof HistoryPage>> {
    const { topic, ...page } = query;
    return this.topics.history(scopeOf(caller), topic, page);
  }

  @Post('messages')
  @BearerRoute('send', { summary: 'Post to a topic (topic in the body)', description: POST_DESCRIPTION, ok: PostedMessage, status: 201, errors: [400, 404, 409] })
  postByBody(@Caller() caller: ApiCaller, @Body({ schema: PostMessageBody }) body: z.output<typeof PostMessageBody>): Promise<z.output<typeof PostedMessage>> {
    const { topic, ...message } = body;
    return this.topics.post(scopeOf(caller), topic, message);
  }
}
