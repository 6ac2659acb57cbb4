import { createParamDecorator, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ProtocolError, type ApiKeyCapability } from '@claudemesh/core';
import type { FastifyRequest } from 'fastify';
import { ApiKeysService, type ApiCaller } from '../apikeys/api-keys.service.js';
import type { TopicScope } from '../topics/topics.service.js';

/** Route metadata: the capability a bearer route needs (set by `@BearerRoute`). */
export const NEEDS_CAPABILITY = 'claudemesh:needs-capability';

const WHAT: Record<ApiKeyCapability, string> = {
  read: 'reading (GET routes and streams)',
  send: 'posting, joining, leaving and read marks',
  admin: 'managing API keys over REST',
};

const callers = new WeakMap<object, ApiCaller>();

/**
 * `Authorization: Bearer cmk_…` for the REST `/api/v1` surface: every request reads the key row
 * (ApiKeysService.authenticate), so revocation and expiry hold from the next request; then the
 * route's capability. A route under this guard without a declared capability is refused.
 */
@Injectable()
export class BearerGuard implements CanActivate {
  constructor(
    private readonly keys: ApiKeysService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const need = this.reflector.get<ApiKeyCapability | undefined>(NEEDS_CAPABILITY, ctx.getHandler());
    if (!need) throw new ProtocolError('E_INTERNAL', 'this route declares no capability');
    const req = ctx.switchToHttp().getRequest<FastifyRequest>();
    const caller = await this.keys.authenticate(req.headers.authorization);
    if (!caller.capabilities.has(need)) {
      throw new ProtocolError('E_FORBIDDEN', `this API key lacks the ${need} capability, needed for ${WHAT[need]}; it has ${[...caller.capabilities].join(', ')}`);
    }
    callers.set(req, caller);
    return true;
  }
}

/** The mesh of a request's bearer caller, once BearerGuard authenticated it (for metrics). */
export const bearerMeshOf = (req: object): string | undefined => callers.get(req)?.state.mesh.id;

/** The authenticated caller of a bearer route (after BearerGuard). */
export const Caller = createParamDecorator((_data: unknown, ctx: ExecutionContext): ApiCaller => {
  const caller = callers.get(ctx.switchToHttp().getRequest<FastifyRequest>());
  if (!caller) throw new ProtocolError('E_INTERNAL', 'bearer route without BearerGuard');
  return caller;
});

/** What the topic services see of a caller: its member, limited to the key's topics. */
export const scopeOf = (caller: ApiCaller): TopicScope => ({ state: caller.state, member: caller.member, topics: caller.topics });
