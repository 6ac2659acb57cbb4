import { Controller, Get, Query, UseGuards, UsePipes } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { EpochsPage, EpochsQuery } from '@claudemesh/core';
import type { z } from 'zod';
import type { ApiCaller } from '../apikeys/api-keys.service.js';
import { EpochsService } from '../epochs/epochs.service.js';
import { BearerGuard, Caller, scopeOf } from './bearer.guard.js';
import { TopicParam } from './params.js';
import { BearerRoute } from './route.decorators.js';
import { WireSchemaPipe } from './wire-schema.pipe.js';

const DESCRIPTION =
  'The key epochs of a topic (docs/protocol.md §5.6), read-only: manifests in epoch order after `after_epoch`, the seals addressed to the ' +
  "key's member, and, when that member is listed in the current epoch, the members without a seal. Verify the chain and open seals " +
  'client-side; the broker is not trusted with either. Publishing and re-sealing are WebSocket frames (epoch_publish, epoch_seal). ' +
  'A REST-only human has no keypair: it gets manifests but never a seal.';

/** Key epochs over REST: the read side, for API-key clients whose member holds a real keypair. */
@ApiTags('topics')
@Controller('api/v1/topics')
@UseGuards(BearerGuard)
@UsePipes(WireSchemaPipe)
export class EpochsController {
  constructor(private readonly epochs: EpochsService) {}

  @Get(':name/epochs')
  @BearerRoute('read', { summary: 'A topic’s key epochs and the caller’s seals', description: DESCRIPTION, ok: EpochsPage, errors: [400, 404] })
  list(@Caller() caller: ApiCaller, @TopicParam() name: string, @Query({ schema: EpochsQuery }) query: z.output<typeof EpochsQuery>): Promise<z.output<typeof EpochsPage>> {
    return this.epochs.get(scopeOf(caller), `topic:${name}`, query.after_epoch);
  }
}
