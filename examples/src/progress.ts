/** A one-line terminal progress bar; in a non-interactive log it stays silent until done() prints the summary. */
export class ProgressBar {
  private readonly tty = process.stdout.isTTY === true;
  private readonly start = Date.now();
  constructor(private readonly label: string, private readonly total: number, private readonly width = 28) {}

  update(done: number, info = ''): void {
    if (!this.tty) return;
    const filled = Math.round((done / this.total) * this.width);
    const secs = ((Date.now() - this.start) / 1000).toFixed(1);
    process.stdout.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}] ${done}/${this.total} ${secs}s ${info}   `);
  }

  done(summary: string): void {
    if (this.tty) process.stdout.write('\r\x1b[2K');
    console.log(`${this.label} ${summary}`);
  }
}
