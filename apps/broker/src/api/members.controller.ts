import { Body, Controller, Get, Post, Query, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { AddTopicMemberBody, MemberPresence, ProtocolError, TopicMember } from '@claudemesh/core';
import type { z } from 'zod';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { PresenceService } from '../presence/presence.service.js';
import { TopicsService } from '../topics/topics.service.js';
import { MembersQuery } from './api.schemas.js';
import { BearerGuard, Caller, scopeOf } from './bearer.guard.js';
import { MemberPresenceView } from './member-presence.js';
import { TopicParam } from './params.js';
import { BearerRoute } from './route.decorators.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

const MEMBERS_DESCRIPTION =
  'Every active member with its WebSocket sessions and REST presence (a key used in the last 5 minutes). ' +
  'A member that does not grant the caller `read` shows offline. A topic-scoped key sees the members of its topics only. ' +
  '`?tag=<tag>` keeps the members with a live session advertising the tag (docs/protocol.md §5.7) that the caller may see, the caller\'s own member included: how a REST client resolves `tag:<tag>`.';

/** Who is in the mesh and in a topic, and who is online (WebSocket or REST). */
@ApiTags('members')
@Controller('api/v1')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class MembersController {
  constructor(
    private readonly topics: TopicsService,
    private readonly presence: MemberPresenceView,
    private readonly sessions: PresenceService,
  ) {}

  @Get('members')
  @BearerRoute('read', { summary: 'Members and their presence', description: MEMBERS_DESCRIPTION, ok: MemberPresence.array(), errors: [400] })
  members(@Caller() caller: ApiCaller, @Query({ schema: MembersQuery }) query: z.output<typeof MembersQuery>): Promise<Array<z.output<typeof MemberPresence>>> {
    return this.list(caller, query.tag);
  }

  @Get('peers')
  @BearerRoute('read', { summary: 'Alias of GET /members', description: MEMBERS_DESCRIPTION, ok: MemberPresence.array(), errors: [400] })
  peers(@Caller() caller: ApiCaller, @Query({ schema: MembersQuery }) query: z.output<typeof MembersQuery>): Promise<Array<z.output<typeof MemberPresence>>> {
    return this.list(caller, query.tag);
  }

  @Get('topics/:name/members')
  @BearerRoute('read', { summary: 'The members of a topic', ok: TopicMember.array(), errors: [400, 404] })
  async topicMembers(@Caller() caller: ApiCaller, @TopicParam() name: string): Promise<Array<z.output<typeof TopicMember>>> {
    const seen = await this.presence.lookup(caller.state, caller.member);
    return this.topics.members(scopeOf(caller), name, seen.online);
  }

  @Post('topics/:name/members')
  @BearerRoute('send', { summary: 'Add a member of the mesh to a topic you are in (the way into a private topic)', ok: TopicMember.array(), errors: [400, 404] })
  async addTopicMember(
    @Caller() caller: ApiCaller,
    @TopicParam() name: string,
    @Body({ schema: AddTopicMemberBody }) body: z.output<typeof AddTopicMemberBody>,
  ): Promise<Array<z.output<typeof TopicMember>>> {
    const scope = scopeOf(caller);
    await this.topics.addMember(scope, name, body.member);
    const seen = await this.presence.lookup(caller.state, caller.member);
    return this.topics.members(scope, name, seen.online);
  }

  private async list(caller: ApiCaller, tag?: string): Promise<Array<z.output<typeof MemberPresence>>> {
    const seen = await this.presence.lookup(caller.state, caller.member);
    const shown = caller.topics ? await this.inKeyTopics(caller) : null;
    return caller.state
      .activeMembers()
      .filter((m) => !shown || shown.has(m.pubkey))
      .filter((m) => tag === undefined || this.advertises(caller, m.id, tag))
      .map(seen.of);
  }

  /** As `list_peers` shows tags: only sessions of a member that grants the caller `read`. */
  private advertises(caller: ApiCaller, memberId: string, tag: string): boolean {
    if (!caller.state.allows(memberId, caller.member.id, 'read')) return false;
    for (const s of this.sessions.sessionsOf(memberId)) if (s.tags.includes(tag)) return true;
    return false;
  }

  /** A topic-scoped key sees nothing beyond its topics: the members of those (and its own member). */
  private async inKeyTopics(caller: ApiCaller): Promise<Set<string>> {
    const shown = new Set([caller.member.pubkey]);
    for (const topic of caller.topics ?? []) {
      try {
        for (const m of await this.topics.members(scopeOf(caller), topic, () => false)) shown.add(m.member_pubkey);
      } catch (error) {
        // A scoped topic that was deleted, or a private one the member has left, shows no one.
        if (!(error instanceof ProtocolError)) throw error;
      }
    }
    return shown;
  }
}
