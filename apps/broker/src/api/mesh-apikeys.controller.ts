import { Body, Controller, Delete, Get, Param, Post, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiKeyInfo, CreateApiKeyBody, CreatedApiKey, Uuid } from '@claudemesh/core';
import type { z } from 'zod';
import { ApiKeysService } from '../apikeys/api-keys.service.js';
import { ApiKeyId } from './api.schemas.js';
import { CREATE_KEY_DESCRIPTION } from './apikeys.controller.js';
import { SignedRoute } from './route.decorators.js';
import { SignedMember, SignedMemberGuard, type SignedCaller } from './signed-member.guard.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

/** API keys managed by a member with signed requests (docs/protocol.md §4.5): how the CLI creates them. */
@ApiTags('apikeys')
@Controller('api/v1/meshes/:meshId/apikeys')
@UseGuards(SignedMemberGuard)
@UsePipes(WireSchemaPipe)
export class MeshApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @SignedRoute({ summary: 'Create an API key for yourself (or, owner/admin, for a new REST-only human)', description: CREATE_KEY_DESCRIPTION, ok: CreatedApiKey, status: 201, errors: [400, 404, 409] })
  create(
    @SignedMember() caller: SignedCaller,
    @Param('meshId', { schema: Uuid }) _meshId: string,
    @Body({ schema: CreateApiKeyBody }) body: z.output<typeof CreateApiKeyBody>,
  ): Promise<z.output<typeof CreatedApiKey>> {
    return this.keys.create(caller.state, caller.member, body);
  }

  @Get()
  @SignedRoute({ summary: 'Your keys (every key of the mesh for an owner or admin)', ok: ApiKeyInfo.array(), errors: [400, 404] })
  list(@SignedMember() caller: SignedCaller, @Param('meshId', { schema: Uuid }) _meshId: string): Promise<Array<z.output<typeof ApiKeyInfo>>> {
    return this.keys.list(caller.state, caller.member);
  }

  @Delete(':id')
  @SignedRoute({ summary: 'Revoke an API key and every key issued with it (effective on their next request)', ok: ApiKeyInfo, errors: [400, 404] })
  revoke(@SignedMember() caller: SignedCaller, @Param('meshId', { schema: Uuid }) _meshId: string, @Param('id', { schema: ApiKeyId }) id: string): Promise<z.output<typeof ApiKeyInfo>> {
    return this.keys.revoke(caller.state, caller.member, id);
  }
}
