import { readdirSync, readFileSync } from 'node:fs';

/** Resident memory (MB) and open file descriptors of a process, from Linux /proc. */
export function processStats(pid: number | undefined): { rssMb: number | null; fds: number | null } {
  if (pid === undefined) return { rssMb: null, fds: null };
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return { rssMb: Math.round((rssKb / 1024) * 10) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return { rssMb: null, fds: null };
  }
}

/** CPU time (user + system, ms) a process has used so far, from /proc/<pid>/stat (clock ticks of 10 ms). */
export function cpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    // Fields after the command name (which may hold spaces, hence from the last ')'): utime is the 12th, stime the 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

/** Samples a process every 100 ms and keeps the peaks. */
export class PeakSampler {
  rssMb = 0;
  fds = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number | undefined) {
    this.timer = setInterval(() => this.sample(), 100);
  }

  sample(): void {
    const s = processStats(this.pid);
    this.rssMb = Math.max(this.rssMb, s.rssMb ?? 0);
    this.fds = Math.max(this.fds, s.fds ?? 0);
  }

  stop(): { broker_rss_peak_mb: number; broker_fds_peak: number } {
    clearInterval(this.timer);
    this.sample();
    return { broker_rss_peak_mb: Math.round(this.rssMb), broker_fds_peak: this.fds };
  }
}
