import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The built broker; benchmarks and crash tests run it as a separate process. */
export const BROKER_MAIN = fileURLToPath(new URL('../../../apps/broker/dist/main.js', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The built broker (apps/broker/dist) as a child process: its own event loop, killable for crash tests. */
export class BrokerProcess {
  private child: ChildProcess | null = null;
  output = '';

  /** `nodeArgs` go before the script, e.g. ['--cpu-prof'] to profile the broker under load. */
  constructor(
    private readonly env: Record<string, string>,
    private readonly nodeArgs: string[] = [],
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  // Wide: only a hang should trip it, and a first start on a loaded 2-core machine can take a while.
  async start(timeoutMs = 120_000): Promise<void> {
    const child = spawn(process.execPath, [...this.nodeArgs, BROKER_MAIN], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`broker did not start: ${this.output}`)), timeoutMs);
      child.stdout!.on('data', (chunk: Buffer) => {
        this.output += chunk.toString();
        if (this.output.includes('claudemesh broker listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        this.output += chunk.toString();
        // BENCH_BROKER_STDERR=1 shows the broker's own log lines (e.g. LOG_LEVEL=debug) while it runs.
        if (process.env['BENCH_BROKER_STDERR']) process.stderr.write(chunk);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`broker exited with ${code}: ${this.output}`));
      });
    });
  }


  /** SIGKILL by default: no chance to flush or close, the crash case. Resolves with the exit code (null when killed by the signal). */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    return new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill(signal);
    });
  }

  /** Runs the broker to completion and returns its exit code and output (for start-up failures). */
  static async runToExit(env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number | null; output: string }> {
    const child = spawn(process.execPath, [BROKER_MAIN], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  }
}
