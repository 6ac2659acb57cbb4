/** What a scenario needs from a peer, implemented by the real SDK and by the baseline relay client. */
export interface BenchPeer {
  readonly index: number;
  /** Resolves when the server acknowledged the message (for the mesh: after its durable commit). */
  send(to: number | `@${string}`, text: string): Promise<void>;
  joinGroup(group: string): Promise<void>;
  onMessage(handler: (text: string) => void): void;
  close(): Promise<void>;
}

export interface BenchSystem {
  readonly name: 'mesh' | 'baseline';
  /** Connects `count` peers (indices 0..count-1). */
  connect(count: number, opts?: { sessionsPerMember?: number }): Promise<BenchPeer[]>;
  /** The server process id, for RSS and FD readings. */
  readonly serverPid: number | undefined;
  stop(): Promise<void>;
}
