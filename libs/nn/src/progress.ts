/**
 * Progress for long loops (as tqdm): on a terminal, one line redrawn in place with a bar, the rate
 * and the time left; in a log (not a TTY), a plain line at most every `every` seconds and at the
 * end, so CI output stays readable. Messages printed with log() do not tear the bar.
 */
import { ArgumentError, checkOptions, describe } from '@tessera/ops';

export interface ProgressOptions {
  /** The number of steps, when known (the bar and time left need it). */
  total?: number;
  /** What is progressing, printed first. */
  label?: string;
  /** Bar width in characters (terminal only). */
  width?: number;
  /** In a log: the least number of seconds between plain lines (default 10). */
  every?: number;
  /** Where to write (default stdout); its isTTY decides the form. */
  stream?: NodeJS.WriteStream;
}

const seconds = (s: number): string => (s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`);

/**
 * A progress display for a loop (tqdm's): update() or tick() each step, log() for messages, done() at
 * the end; track() wraps an iterable in one.
 */
export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly start = performance.now();
  private lastLine = this.start / 1000;
  private current = 0;
  private info = '';
  private drawn = false;
  /** The number of steps, when known. */
  readonly total: number | undefined;
  /** Printed before the counts ('' for none). */
  readonly label: string;
  private readonly width: number;
  private readonly every: number;

  /** Throws ArgumentError when total is not a non-negative integer. */
  constructor(options: ProgressOptions = {}) {
    const o = checkOptions<ProgressOptions>('Progress', options);
    if (o.total !== undefined && !(Number.isInteger(o.total) && o.total >= 0)) throw new ArgumentError('Progress', `total must be a non-negative integer, got ${describe(o.total)}`);
    this.total = o.total;
    this.label = o.label ?? '';
    this.width = o.width ?? 28;
    this.every = o.every ?? 10;
    this.stream = o.stream ?? process.stdout;
    this.tty = this.stream.isTTY === true;
  }

  /** Steps done so far (absolute), with a short note (a loss, say). */
  update(done: number, info = ''): void {
    this.current = done;
    this.info = info;
    if (this.tty) { this.draw(); return; }
    const now = performance.now() / 1000;
    if (now - this.lastLine >= this.every) { this.lastLine = now; this.stream.write(`${this.line()}\n`); }
  }

  /** One more step (or `n`). */
  tick(n = 1, info = ''): void { this.update(this.current + n, info); }

  /** Prints a message above the bar. */
  log(message: string): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[2K');
    this.stream.write(`${message}\n`);
    if (this.tty && this.drawn) this.draw();
  }

  /** Ends the bar: its last state (and `summary`) as a plain line. */
  done(summary = ''): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[2K');
    this.drawn = false;
    this.stream.write(`${this.line()}${summary ? ` ${summary}` : ''}\n`);
  }

  private line(): string {
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = this.current / Math.max(elapsed, 1e-9);
    const of = this.total === undefined ? `${this.current}` : `${this.current}/${this.total}`;
    const left = this.total !== undefined && rate > 0 && this.current < this.total ? `, ${seconds((this.total - this.current) / rate)} left` : '';
    return `${this.label ? `${this.label} ` : ''}${of} [${seconds(elapsed)}${left}, ${rate.toFixed(rate < 10 ? 2 : 0)}/s]${this.info ? ` ${this.info}` : ''}`;
  }

  private draw(): void {
    const bar = this.total ? `[${'#'.repeat(Math.round((Math.min(this.current, this.total) / this.total) * this.width)).padEnd(this.width, '.')}] ` : '';
    this.stream.write(`\r\x1b[2K${bar}${this.line()}`);
    this.drawn = true;
  }
}

/** Iterates `items`, showing progress (total: their length or size when they have one). */
export function* track<T>(items: Iterable<T>, options: ProgressOptions = {}): Generator<T> {
  const sized = items as { length?: number; size?: number };
  const p = new Progress({ total: typeof sized.length === 'number' ? sized.length : typeof sized.size === 'number' ? sized.size : undefined, ...options });
  try {
    for (const item of items) {
      yield item;
      p.tick();
    }
  } finally {
    p.done();
  }
}
