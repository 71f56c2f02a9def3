/** 2000 lines per server; enough for a failed test's story, bounded for long suites. */
export const DEFAULT_LOG_LINES = 2000;

/**
 * Ring buffer of output lines. Servers are chatty on restart loops; keeping only
 * the tail bounds memory while still showing what happened just before a failure.
 */
export class LogBuffer {
  private readonly lines: string[] = [];
  private partial = '';

  constructor(private readonly capacity: number = DEFAULT_LOG_LINES) {}

  write(chunk: Buffer | string, prefix = ''): void {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.push(prefix + line);
  }

  /** Adds a harness note (start, stop, exit) so the log reads as a timeline. */
  note(message: string): void {
    this.flush();
    this.push(`[harness ${new Date().toISOString()}] ${message}`);
  }

  flush(): void {
    if (this.partial !== '') {
      this.push(this.partial);
      this.partial = '';
    }
  }

  text(): string {
    const tail = this.partial === '' ? [] : [this.partial];
    return [...this.lines, ...tail].join('\n');
  }

  tail(n: number): string {
    const all = this.text().split('\n');
    return all.slice(Math.max(0, all.length - n)).join('\n');
  }

  private push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
  }
}
