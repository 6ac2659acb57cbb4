/**
 * A heartbeat while files run, so a long run on a slow machine never looks stuck: how many files
 * are done, the time so far, and what is running for how long.
 *
 *   [12/73  4:11] running apps/cli/test/topics-cli.spec.ts (1:02), apps/broker/test/sse.spec.ts (0:12)
 *
 * It adds to the default reporter, which prints each finished file and failures in full.
 */
import { relative } from 'node:path';
import type { Reporter, TestModule, TestSpecification, Vitest } from 'vitest/node';

const HEARTBEAT_MS = 20_000;

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export default class ProgressReporter implements Reporter {
  private vitest!: Vitest;
  private total = 0;
  private done = 0;
  private failedFiles = 0;
  private started = Date.now();
  private readonly running = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | null = null;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunStart(specifications: ReadonlyArray<TestSpecification>): void {
    this.total = new Set(specifications.map((s) => s.moduleId)).size;
    this.started = Date.now();
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  onTestModuleStart(module: TestModule): void {
    this.running.set(this.name(module), Date.now());
  }

  onTestModuleEnd(module: TestModule): void {
    this.running.delete(this.name(module));
    this.done++;
    if (module.state() === 'failed') this.failedFiles++;
  }

  onTestRunEnd(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.log(`${this.done} files finished${this.failedFiles ? `, ${this.failedFiles} with failures` : ''}`);
  }

  private beat(): void {
    if (this.running.size === 0) return;
    const now = Date.now();
    this.log(`running ${[...this.running].map(([name, since]) => `${name} (${clock(now - since)})`).join(', ')}`);
  }

  private log(line: string): void {
    const width = String(this.total).length;
    this.vitest.logger.log(`[${String(this.done).padStart(width)}/${this.total} ${clock(Date.now() - this.started).padStart(5)}] ${line}`);
  }

  private name(module: TestModule): string {
    return relative(this.vitest.config.root, module.moduleId);
  }
}
