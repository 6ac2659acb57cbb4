import { Module } from '@nestjs/common';
import { PreAuthTracker } from './preauth.js';
import { RateLimiter } from './rate-limiter.js';

@Module({ providers: [PreAuthTracker, RateLimiter], exports: [PreAuthTracker, RateLimiter] })
export class LimitsModule {}
