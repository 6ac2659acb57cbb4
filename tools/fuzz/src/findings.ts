/** Counters and violations of one fuzz run. A violation is anything the protocol does not allow. */
export interface Violation {
  kind: string;
  detail: string;
  /** The case that triggered it (label and frame or request excerpt), when known. */
  context?: string;
}

export class Findings {
  readonly violations: Violation[] = [];
  frames = 0;
  replies = 0;
  pushes = 0;
  restRequests = 0;
  connections = 0;
  crashes = 0;
  readonly labels = new Map<string, number>();
  readonly outcomes = new Map<string, number>();

  constructor(
    private readonly log: (line: string) => void = () => undefined,
    /** How many violations of each kind are printed as they happen. */
    private readonly printPerKind = 5,
  ) {}

  violation(kind: string, detail: string, context?: string): void {
    const v: Violation = { kind, detail, ...(context !== undefined ? { context } : {}) };
    this.violations.push(v);
    // Print the first few of each kind as they happen; the summary counts the rest.
    const sameKind = this.violations.filter((x) => x.kind === kind).length;
    if (sameKind <= this.printPerKind) this.log(`VIOLATION [${kind}] ${detail}${context ? `\n    case: ${context}` : ''}`);
  }

  countLabel(label: string): void {
    const op = label.replace(/[:=].*$/, '');
    this.labels.set(op, (this.labels.get(op) ?? 0) + 1);
  }

  countOutcome(outcome: string): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }

  get unexpected(): number {
    return this.violations.length;
  }

  summaryByKind(): string {
    const byKind = new Map<string, number>();
    for (const v of this.violations) byKind.set(v.kind, (byKind.get(v.kind) ?? 0) + 1);
    return [...byKind].map(([k, n]) => `${k}: ${n}`).join(', ');
  }
}
