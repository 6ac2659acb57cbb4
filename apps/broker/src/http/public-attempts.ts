import { Global, Inject, Injectable, Module, UseInterceptors, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { tap, type Observable } from 'rxjs';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { addressKey } from './client-address.js';
import { RateLimitedError } from './rate-limited.error.js';
import { TokenBuckets } from './token-buckets.js';

/**
 * The per-address budget of the routes that take no credentials (invite resolve and claim, joins,
 * mesh creation): each request takes an attempt from its address's bucket while it runs, and a
 * request that succeeds gives it back. Guessing codes or tokens — which fails — drains the bucket;
 * a script joining a hundred members with valid invites does not.
 */
@Injectable()
export class PublicAttempts {
  private readonly buckets: TokenBuckets;

  constructor(@Inject(BROKER_CONFIG) private readonly config: BrokerConfig) {
    this.buckets = new TokenBuckets(config.rest.publicAttempts);
  }

  /** Takes an attempt for this address, or throws E_RATE_LIMITED with when one will be there. */
  take(address: string): void {
    const wait = this.buckets.take(address);
    if (wait > 0) {
      const { burst, perMinute } = this.config.rest.publicAttempts;
      throw new RateLimitedError(`too many failed attempts from your address (${burst}, then ${perMinute} a minute); retry in ${Math.ceil(wait / 1000)} s`, wait);
    }
  }

  giveBack(address: string): void {
    this.buckets.give(address);
  }
}

@Injectable()
export class PublicAttemptsInterceptor implements NestInterceptor {
  constructor(private readonly attempts: PublicAttempts) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const address = addressKey(ctx.switchToHttp().getRequest<FastifyRequest>().ip);
    this.attempts.take(address);
    return next.handle().pipe(tap({ next: () => this.attempts.giveBack(address) }));
  }
}

/** Marks a route that needs no credentials: its failures count against the caller's address. */
export const PublicRoute = (): MethodDecorator & ClassDecorator => UseInterceptors(PublicAttemptsInterceptor);

/** Global, so every feature module's public routes share one budget per address. */
@Global()
@Module({ providers: [PublicAttempts, PublicAttemptsInterceptor], exports: [PublicAttempts, PublicAttemptsInterceptor] })
export class PublicAttemptsModule {}
