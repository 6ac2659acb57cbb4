import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';

/** Posts between two refreshes of topic_messages' planner statistics on the embedded database. */
export const ANALYZE_EVERY_POSTS = 5_000;

/**
 * The embedded database runs no autovacuum, so nothing ever ANALYZEs topic_messages: the planner
 * then guesses, and a broad search scans every match instead of walking the newest ids until it has
 * its candidates (measured on 20 000 matches: about 135 ms unanalyzed, 30 ms analyzed). This
 * refreshes the statistics at start and every ANALYZE_EVERY_POSTS posts (one ANALYZE samples at most
 * 30 000 rows: about 130 ms). Postgres's own autovacuum does this there, so it is off for Postgres.
 */
export class TopicStatistics {
  private readonly logger = new Logger('TopicStatistics');
  private posts = 0;
  private running: Promise<void> | null = null;

  constructor(
    private readonly ds: DataSource,
    private readonly enabled: boolean,
  ) {}

  /** Counts one stored post; refreshes once enough have accumulated. */
  posted(): void {
    if (!this.enabled || ++this.posts < ANALYZE_EVERY_POSTS) return;
    void this.refresh();
  }

  refresh(): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    this.running ??= (async () => {
      this.posts = 0;
      try {
        await this.ds.query('ANALYZE topic_messages');
      } catch (error) {
        // Only the plans suffer; the next round tries again.
        this.logger.warn(`ANALYZE topic_messages failed: ${(error as Error).message}`);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }
}
