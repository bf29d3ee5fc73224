import { UNPRINTABLE } from '../text.js';
/** Plain aligned columns, like `gh` prints when stdout is a terminal or a pipe. */
export interface TableOptions {
  /**
   * The width to fit in: by default the terminal's when stdout is one, else none (a pipe gets whole cells).
   * When the rows are wider, the `shrink` column (default: the widest) gives up space and its cells end with `…`.
   */
  width?: number;
  shrink?: number;
}

const GAP = 2;
/** A shrunk column keeps at least this many characters. */
const MIN_SHRUNK = 8;


/** Whether the text holds a character `printable` would show as `\u…`. */
export function hasUnprintable(text: string): boolean {
  return text.search(UNPRINTABLE) !== -1;
}

/** Text from outside (a contact's name, a message) made safe to print: each such character becomes a visible `\u…`. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function table(headers: string[], rawRows: string[][], options: TableOptions = {}): string[] {
  const rows = rawRows.map((row) => row.map((cell) => printable(cell)));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const width = options.width ?? (process.stdout.isTTY ? process.stdout.columns : undefined);
  if (width !== undefined && width > 0) {
    const total = widths.reduce((sum, w) => sum + w, 0) + GAP * (widths.length - 1);
    const shrink = options.shrink ?? widths.indexOf(Math.max(...widths));
    const over = total - width;
    if (over > 0 && widths[shrink] !== undefined) widths[shrink] = Math.max(MIN_SHRUNK, widths[shrink]! - over);
  }
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => {
        const fitted = truncate(cell, widths[i]!);
        return i === cells.length - 1 ? fitted : fitted.padEnd(widths[i]!);
      })
      .join(' '.repeat(GAP))
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** Cuts text to `max` characters, marking the cut with `…`. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text;
}
