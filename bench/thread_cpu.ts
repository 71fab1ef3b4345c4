/**
 * CPU time of this process's threads, split into the main (JavaScript) thread and all others.
 * On lavapipe the others are the driver's: its queue thread and the compute workers that run the
 * kernels, so their CPU time is the "GPU time" of a software adapter. Linux only (`/proc`).
 *
 * @module
 */

/** Milliseconds of CPU (user + system) used so far. */
export interface ThreadCpu {
  /** The main thread: JavaScript, op construction, autograd, command encoding. */
  mainMs: number;
  /** Every other thread of the process (driver threads on lavapipe, V8 helpers, I/O). */
  otherMs: number;
}

const TICK_MS = 10;

function readCpu(task: string): number {
  const stat = Deno.readTextFileSync(`/proc/self/task/${task}/stat`);
  // Fields after the parenthesised thread name; utime and stime are the 12th and 13th of them.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** The CPU time of the process's threads now, or null where `/proc/self/task` is unreadable. */
export function threadCpu(): ThreadCpu | null {
  try {
    let mainMs = 0;
    let otherMs = 0;
    for (const entry of Deno.readDirSync("/proc/self/task")) {
      const ms = readCpu(entry.name);
      if (entry.name === String(Deno.pid)) mainMs += ms;
      else otherMs += ms;
    }
    return { mainMs, otherMs };
  } catch {
    return null;
  }
}
