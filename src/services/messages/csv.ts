/**
 * A bulk send's CSV, read by csv-parse (RFC 4180: quoted fields with commas, quotes ("") and line breaks; CRLF or LF;
 * a UTF-8 BOM ignored; blank lines and rows of empty fields skipped). A file that cannot be read as CSV (an
 * unterminated quote, a file separated by semicolons) is refused whole, naming the line and the problem: rows are
 * never silently lost.
 *
 * The file is read as it is used, a row at a time, never held as rows: a bulk send of millions of rows needs the
 * memory of its bytes, not of millions of row objects. Opening it reads it once through, to check it and count rows.
 */
import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import { CsvError, parse as parseStream } from 'csv-parse';
import { parse } from 'csv-parse/sync';
import { UserError } from '../../errors.js';

export interface CsvRow {
  /** 1-based line number where the row starts (the header is line 1). */
  line: number;
  values: Record<string, string>;
}

/** A row whose field count differs from the header: reported with its line, not sent. */
export interface MalformedRow {
  line: number;
  reason: string;
}

export interface CsvFile {
  header: string[];
  /** Rows after the header, malformed ones included. */
  count: number;
  /** Every row after the header, in file order, read afresh from the bytes on each call. */
  rows(): AsyncGenerator<CsvRow | MalformedRow>;
}

/** A record and the line it starts on. */
interface Record_ {
  record: string[];
  line: number;
}

/**
 * The file's text, which must be UTF-8 (a BOM allowed): a file saved as Latin-1/Windows-1252 or UTF-16 is refused
 * with the line of its first undecodable byte, rather than sending "Jos\uFFFD" to the customer.
 */
export function checkEncoding(bytes: Uint8Array, name = 'The CSV'): void {
  const hint = 'Save it as "CSV UTF-8 (comma delimited)" (or convert it: iconv -f WINDOWS-1252 -t UTF-8). Nothing was sent.';
  const utf16 = 'Save it as "CSV UTF-8 (comma delimited)" (or convert it: iconv -f UTF-16 -t UTF-8). Nothing was sent.';
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new UserError(`${name} is UTF-16 text, not UTF-8.`, { code: 'csv_encoding', kind: 'usage', hint: utf16 });
  }
  // UTF-16 without its BOM decodes as UTF-8 (every other byte a NUL), and no CSV of text holds a NUL.
  const nul = bytes.indexOf(0);
  if (nul !== -1) {
    const line = 1 + lineBreaks(bytes.subarray(0, nul));
    throw new UserError(`${name}, line ${line}: the file holds NUL bytes, so it is not UTF-8 text (UTF-16 without a BOM?).`, {
      code: 'csv_encoding',
      kind: 'usage',
      hint: utf16,
    });
  }
  const strict = new TextDecoder('utf-8', { fatal: true });
  if (!isUtf8(bytes)) {
    // 0x0A and 0x0D never occur inside a UTF-8 sequence: the first line that does not decode alone is the one.
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i += 1) {
      // A line ends at LF, or at a CR alone (classic Mac line ends); a CRLF's CR is left to its LF.
      if (i < bytes.length && bytes[i] !== 0x0a && !(bytes[i] === 0x0d && bytes[i + 1] !== 0x0a)) continue;
      try {
        strict.decode(bytes.subarray(start, i));
      } catch {
        break;
      }
      line += 1;
      start = i + 1;
    }
    throw new UserError(`${name}, line ${line}: the file is not UTF-8 text (saved as Latin-1 or Windows-1252?).`, {
      code: 'csv_encoding',
      kind: 'usage',
      hint,
    });
  }
}

/** LF, CRLF and a CR alone each end a line. */
function lineBreaks(bytes: Uint8Array): number {
  let breaks = 0;
  for (let i = 0; i < bytes.length; i += 1) {
    if (bytes[i] === 0x0a || (bytes[i] === 0x0d && bytes[i + 1] !== 0x0a)) breaks += 1;
  }
  return breaks;
}

const OPTIONS = {
  bom: true,
  skip_empty_lines: true,
  relax_column_count: true,
  // A quote inside an unquoted field (5" screen) is a character, as people write it.
  relax_quotes: true,
  // Any line end, also mixed in one file (rows pasted from another): detected from the first line, a CRLF after
  // LF lines would stay in the field (a quoted "a" read as `"a"` with its quotes).
  record_delimiter: ['\r\n', '\n', '\r'],
};

/**
 * The line each record starts on, for one read of a file. csv-parse counts lines to the end of each record; inside a
 * quoted field it counts a CR alone (a classic Mac line end) as one and a CRLF as two.
 */
function lineCounter(): (record: string[], context: { lines: number }) => Record_ {
  let crlfSoFar = 0;
  return (record, context) => {
    let breaks = 0;
    for (const field of record) {
      const lf = field.indexOf('\n');
      const cr = field.indexOf('\r');
      if (lf === -1 && cr === -1) continue;
      for (let i = lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr); i < field.length; i += 1) {
        if (field[i] === '\n') {
          breaks += 1;
          if (field[i - 1] === '\r') crlfSoFar += 1;
        } else if (field[i] === '\r' && field[i + 1] !== '\n') {
          breaks += 1;
        }
      }
    }
    return { record, line: context.lines - crlfSoFar - breaks };
  };
}

/**
 * Checks the whole file (its CSV syntax and its header) and counts its rows, keeping none of them: a file that is
 * not CSV is refused before any row is looked at. `bytes` must be UTF-8 (see checkEncoding).
 */
export function openCsv(input: Uint8Array | string, name = 'The CSV'): CsvFile {
  const bytes = typeof input === 'string' ? Buffer.from(input) : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  let header: string[] | undefined;
  let count = 0;
  const lineOf = lineCounter();
  const visit = (record: string[], context: { lines: number }): null => {
    if (header === undefined) header = checkHeader(lineOf(record, context).record, name);
    else if (!isEmpty(record)) count += 1;
    return null;
  };
  try {
    // csv-parse's types know no on_record that drops every record.
    (parse as unknown as (input: Buffer, options: object) => unknown)(bytes, { ...OPTIONS, on_record: visit });
  } catch (error) {
    // Read again with each record's raw text, which names the line where a quote that is never closed opens.
    if (error instanceof CsvError && error.code === 'CSV_QUOTE_NOT_CLOSED') {
      try {
        (parse as unknown as (input: Buffer, options: object) => unknown)(bytes, { ...OPTIONS, raw: true, on_record: () => null });
      } catch (detailed) {
        throw csvError(detailed, name, bytes.toString('utf8'));
      }
    }
    throw csvError(error, name);
  }
  const columns = header ?? [];
  return { header: columns, count, rows: () => rowsOf(bytes, columns) };
}

/** A row of empty fields only (`,,`, as spreadsheets end an export): skipped, as a blank line is. */
function isEmpty(record: string[]): boolean {
  return record.every((field) => field.trim() === '');
}

/** The header's names, trimmed; refused when one appears twice or the file is not separated by commas. */
function checkHeader(record: string[], name: string): string[] {
  const header = record.map((h) => h.trim());
  const twice = header.find((column, i) => column !== '' && header.indexOf(column) !== i);
  if (twice !== undefined) {
    // Which one would be meant? (Two "to" columns would send to only one of the numbers.)
    throw new UserError(`${name}: the column "${twice}" appears twice in its header.`, {
      code: 'csv_duplicate_column',
      kind: 'usage',
      hint: 'Give each column one name, once. Nothing was sent.',
    });
  }
  if (header.length === 1) {
    const separator = [';', '\t', '|'].find((s) => header[0]!.includes(s));
    if (separator !== undefined) {
      const word = separator === ';' ? 'semicolons' : separator === '\t' ? 'tabs' : 'bars (|)';
      throw new UserError(`${name} is separated by ${word}, not commas: its header "${header[0]}" reads as one column.`, {
        code: 'csv_delimiter',
        kind: 'usage',
        hint: 'Save it as comma-separated CSV (in a spreadsheet: "CSV UTF-8 (comma delimited)"), or replace the separators with commas.',
      });
    }
  }
  return header;
}

/** Bytes fed to the parser at a time (it carries a field, a UTF-8 sequence or a CRLF across the cut). */
const CHUNK = 64 * 1024;

function* chunksOf(bytes: Buffer): Generator<Buffer> {
  for (let start = 0; start < bytes.length; start += CHUNK) yield bytes.subarray(start, start + CHUNK);
}

/** The rows of a file openCsv has checked, parsed as they are asked for (a stream, so a slow consumer holds few). */
async function* rowsOf(bytes: Buffer, header: string[]): AsyncGenerator<CsvRow | MalformedRow> {
  const source = Readable.from(chunksOf(bytes), { objectMode: false });
  // (csv-parse's types know no on_record that changes a record's shape.)
  const parser = source.pipe(parseStream({ ...OPTIONS, on_record: lineCounter() } as unknown as Parameters<typeof parseStream>[0]));
  let first = true;
  try {
    for await (const { record, line } of parser as AsyncIterable<Record_>) {
      if (first) {
        first = false;
        continue;
      }
      if (isEmpty(record)) continue;
      if (record.length !== header.length) {
        yield { line, reason: `${record.length} fields, the header has ${header.length}` };
        continue;
      }
      const values: Record<string, string> = {};
      header.forEach((column, i) => {
        values[column] = record[i]!.trim();
      });
      yield { line, values };
    }
  } finally {
    source.destroy();
    parser.destroy();
  }
}

function csvError(error: unknown, name: string, text?: string): unknown {
  if (!(error instanceof CsvError)) return error;
  const details = error as CsvError & { lines?: number; raw?: string };
  if (error.code === 'CSV_QUOTE_NOT_CLOSED') {
    // The record runs to the end of the file: it starts where its raw text (blank lines before it left out) begins.
    const own = details.raw?.replace(/^[\r\n]+/, '');
    const line = text !== undefined && own !== undefined ? 1 + (text.slice(0, text.length - own.length).match(/\r\n|\r|\n/g)?.length ?? 0) : details.lines;
    return new UserError(`${name}, line ${line}: a quoted field is never closed (a " without its closing ").`, {
      code: 'csv_malformed',
      kind: 'usage',
      hint: `Close the quote on line ${line}, or write a quote inside a quoted field as "". Nothing was sent.`,
    });
  }
  return new UserError(`${name}${details.lines ? `, line ${details.lines}` : ''}: ${error.message.replace(/^[^:]*: /, '')}`, {
    code: 'csv_malformed',
    kind: 'usage',
    hint: 'Fix the file and run the same command again. Nothing was sent.',
  });
}
