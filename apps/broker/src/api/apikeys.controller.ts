import { Body, Controller, Delete, Get, Param, Post, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiKeyInfo, CreateApiKeyBody, CreatedApiKey } from '@claudemesh/core';
import type { z } from 'zod';
import { ApiKeysService, type ApiCaller } from '../apikeys/api-keys.service.js';
import { ApiKeyId } from './api.schemas.js';
import { BearerGuard, Caller } from './bearer.guard.js';
import { BearerRoute } from './route.decorators.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

export const CREATE_KEY_DESCRIPTION =
  'The response carries the secret once; the broker keeps only its hash. Only an owner or admin issues admin keys or enrols a REST-only `human`. ' +
  'A key issued with another key never reaches further than it: only capabilities it has, only within its topics (a topic-scoped key enrols no one), ' +
  'expiring no later than it; revoking or expiring that key ends this one too.';

/** API keys managed with an admin key. Members manage theirs with signed requests (MeshApiKeysController). */
@ApiTags('apikeys')
@Controller('api/v1/apikeys')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Get()
  @BearerRoute('admin', { summary: 'The member’s keys (every key of the mesh for an owner or admin; a topic-scoped key: only keys within its topics)', ok: ApiKeyInfo.array() })
  list(@Caller() caller: ApiCaller): Promise<Array<z.output<typeof ApiKeyInfo>>> {
    return this.keys.list(caller.state, caller.member, caller);
  }

  @Post()
  @BearerRoute('admin', { summary: 'Create an API key', description: CREATE_KEY_DESCRIPTION, ok: CreatedApiKey, status: 201, errors: [400, 409] })
  create(@Caller() caller: ApiCaller, @Body({ schema: CreateApiKeyBody }) body: z.output<typeof CreateApiKeyBody>): Promise<z.output<typeof CreatedApiKey>> {
    return this.keys.create(caller.state, caller.member, body, caller);
  }

  @Delete(':id')
  @BearerRoute('admin', { summary: 'Revoke an API key and every key issued with it (effective on their next request)', ok: ApiKeyInfo, errors: [400, 404] })
  revoke(@Caller() caller: ApiCaller, @Param('id', { schema: ApiKeyId }) id: string): Promise<z.output<typeof ApiKeyInfo>> {
    return this.keys.revoke(caller.state, caller.member, id, caller);
  }
}
