/**
 * A bulk send's CSV, read by csv-parse (RFC 4180: quoted fields with commas, quotes ("") and line breaks; CRLF or LF;
 * a UTF-8 BOM ignored; blank lines skipped). A file that cannot be read as CSV (an unterminated quote, a file separated
 * by semicolons) is refused whole, naming the line and the problem: rows are never silently lost.
 */
import { CsvError, parse } from 'csv-parse/sync';
import { UserError } from '../../errors.js';

export interface CsvRow {
  /** 1-based line number where the row starts (the header is line 1). */
  line: number;
  values: Record<string, string>;
}

export interface CsvTable {
  header: string[];
  rows: CsvRow[];
  /** Rows whose field count differs from the header: reported with their line, not sent. */
  malformed: Array<{ line: number; reason: string }>;
}

interface Parsed {
  record: string[];
  raw: string;
  info: { lines: number };
}

export function parseCsv(text: string, name = 'The CSV'): CsvTable {
  let records: Parsed[];
  try {
    records = parse(text, {
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      // A quote inside an unquoted field (5" screen) is a character, as people write it.
      relax_quotes: true,
      raw: true,
      info: true,
    }) as unknown as Parsed[];
  } catch (error) {
    throw csvError(error, name);
  }
  const [head, ...body] = records;
  const header = (head?.record ?? []).map((h) => h.trim());
  const table: CsvTable = { header, rows: [], malformed: [] };
  if (head && header.length === 1) {
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
  for (const { record, raw, info } of body) {
    const line = startLine(raw, info.lines);
    if (record.length !== header.length) {
      table.malformed.push({ line, reason: `${record.length} fields, the header has ${header.length}` });
      continue;
    }
    const values: Record<string, string> = {};
    header.forEach((column, i) => {
      values[column] = record[i]!.trim();
    });
    table.rows.push({ line, values });
  }
  return table;
}

/** The line a record starts on: csv-parse counts to its end; its raw text (blank lines before it removed) says how far back. */
function startLine(raw: string, endLine: number): number {
  const own = raw.replace(/^(?:\r?\n)+/, '').replace(/\r?\n$/, '');
  return endLine - (own.match(/\n/g)?.length ?? 0);
}

function csvError(error: unknown, name: string): unknown {
  if (!(error instanceof CsvError)) return error;
  const details = error as CsvError & { lines?: number; raw?: string };
  if (error.code === 'CSV_QUOTE_NOT_CLOSED') {
    const line = details.raw !== undefined && details.lines !== undefined ? startLine(details.raw, details.lines) : details.lines;
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
