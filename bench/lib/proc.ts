/** What the benchmark reads from /proc about a process, and how it pins processes to cores. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

export const CLK_TCK = clockTicks();

export interface CpuSample {
  /** On-CPU time of every live thread, from /proc/PID/task/TID/schedstat (ns precision). */
  schedNanos: number | undefined;
  /** utime + stime of the whole process, from /proc/PID/stat (clock-tick precision). */
  statNanos: number;
  /** stime alone: the part spent in the kernel (system calls, the network stack). */
  kernelNanos: number;
}

/**
 * /proc/PID/stat fields 14 and 15 (utime, stime). The command name (field 2) may hold spaces
 * and parentheses, so the fields are counted from the last ')'.
 */
function statTimes(pid: number): { statNanos: number; kernelNanos: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const user = Number(fields[11]);
  const kernel = Number(fields[12]);
  return { statNanos: ((user + kernel) * 1e9) / CLK_TCK, kernelNanos: (kernel * 1e9) / CLK_TCK };
}

/**
 * /proc/PID/schedstat is the main thread only, while GC, JIT and I/O threads also burn CPU
 * for each request, so this sums every thread's first schedstat field (ns on CPU).
 */
function schedNanos(pid: number): number | undefined {
  let total = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
  } catch {
    return undefined;
  }
  return Number.isFinite(total) && total > 0 ? total : undefined;
}

export function sampleCpu(pid: number): CpuSample {
  return { schedNanos: schedNanos(pid), ...statTimes(pid) };
}

/**
 * CPU nanoseconds between two samples. The per-thread sum misses threads that ended in
 * between (/proc/PID/stat keeps their time); when the two disagree by more than the tick
 * resolution allows, the coarse but complete figure wins.
 */
export function cpuBetween(before: CpuSample, after: CpuSample): { nanos: number; source: 'schedstat' | 'stat' } {
  const coarse = after.statNanos - before.statNanos;
  if (before.schedNanos === undefined || after.schedNanos === undefined) return { nanos: coarse, source: 'stat' };
  const fine = after.schedNanos - before.schedNanos;
  const tolerance = (3 * 1e9) / CLK_TCK + 0.05 * coarse;
  if (Math.abs(fine - coarse) > tolerance) return { nanos: coarse, source: 'stat' };
  return { nanos: fine, source: 'schedstat' };
}

/** Resident set size in bytes (VmRSS), or undefined once the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Pinning: the server gets core 0 to itself, the load generator and the sink share core 1,
 * so what the server spends is not mixed with what drives it. Without taskset or a second
 * core the benchmark still runs, unpinned, and says so.
 */
export interface Pinning {
  enabled: boolean;
  /** The taskset binary, when pinning is enabled. */
  taskset: string | undefined;
  reason: string;
  /** Prefixes a command line with `taskset -c CORE`. */
  wrap(core: 0 | 1, command: string, args: string[]): { command: string; args: string[] };
}

export function detectPinning(): Pinning {
  const taskset = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));
  const cores = availableParallelism();
  let reason = 'server on core 0; load generator and sink on core 1';
  if (!taskset) reason = 'taskset (util-linux) not found: processes are not pinned';
  else if (cores < 2) reason = `only ${cores} core available: processes are not pinned`;
  const enabled = reason.startsWith('server');
  return {
    enabled,
    taskset: enabled ? taskset : undefined,
    reason,
    wrap: (core, command, args) =>
      enabled ? { command: taskset!, args: ['-c', String(core), command, ...args] } : { command, args },
  };
}

/** Moves this process (the benchmark's driver, mostly idle) off the server's core. */
export function pinSelf(pinning: Pinning, pid: number): void {
  if (!pinning.taskset) return;
  try {
    execFileSync(pinning.taskset, ['-pc', '1', String(pid)], { stdio: 'ignore' });
  } catch {
    // not fatal: the driver sleeps while the load runs
  }
}
