import { Global, Module } from '@nestjs/common';
import { AnalyticsRecorder } from './analytics.recorder.js';

/** The analytics recorder, for the messaging, topic and presence paths to report into. */
@Global()
@Module({ providers: [AnalyticsRecorder], exports: [AnalyticsRecorder] })
export class AnalyticsModule {}
