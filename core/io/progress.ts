/**
 * Progress display: on a TTY one line rewritten in place (with rate and ETA), elsewhere plain
 * lines at most every `intervalS` seconds so CI logs stay short.
 *
 * @module
 */

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /** Text shown before the count, e.g. "train" (default none). */
  label?: string;
  /** Where text goes (default: stderr). */
  write?: (text: string) => void;
  /** Rewrite one line in place (default: whether stderr is a terminal). */
  isTty?: boolean;
  /** Clock in milliseconds (default: performance.now). */
  now?: () => number;
  /** Minimum seconds between outputs (default 0.1 on a TTY, 10 otherwise). */
  intervalS?: number;
}

/** A progress counter towards `total` steps. */
export class Progress {
  readonly #write: (text: string) => void;
  readonly #now: () => number;
  readonly #tty: boolean;
  readonly #interval: number;
  readonly #start: number;
  #lastShown = -Infinity;

  /** Starts the clock. */
  constructor(readonly total: number, readonly options: ProgressOptions = {}) {
    const encoder = new TextEncoder();
    this.#write = options.write ?? ((t) => Deno.stderr.writeSync(encoder.encode(t)));
    this.#now = options.now ?? (() => performance.now());
    this.#tty = options.isTty ?? Deno.stderr.isTerminal();
    this.#interval = (options.intervalS ?? (this.#tty ? 0.1 : 10)) * 1000;
    this.#start = this.#now();
  }

  /** Reports `done` steps with an optional note (e.g. "loss 2.31"); throttled. */
  update(done: number, note = ""): void {
    const now = this.#now();
    if (now - this.#lastShown < this.#interval && done < this.total) return;
    this.#lastShown = now;
    const line = this.line(done, note, now);
    this.#write(this.#tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }

  /** Ends the display (a newline on a TTY) at `done` steps (default: all of them). */
  finish(note = "", done = this.total): void {
    const line = this.line(done, note, this.#now());
    this.#write(this.#tty ? `\r\x1b[2K${line}\n` : `${line}\n`);
  }

  /** The text shown for `done` steps at time `now`. */
  line(done: number, note: string, now: number): string {
    const elapsed = (now - this.#start) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (this.total - done) / rate : NaN;
    const pct = this.total > 0 ? (100 * done) / this.total : 100;
    const label = this.options.label ? `${this.options.label} ` : "";
    return `${label}${done}/${this.total} (${pct.toFixed(1)}%) ${rate.toFixed(2)}/s ` +
      `elapsed ${duration(elapsed)} eta ${duration(eta)}${note ? ` | ${note}` : ""}`;
  }
}

/** Seconds as h:mm:ss or m:ss ("?" when unknown). */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}
