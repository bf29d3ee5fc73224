/** RFC 4180 CSV: quoted fields with commas, quotes ("") and line breaks; CRLF or LF; a UTF-8 BOM is ignored. */
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

export function parseCsv(text: string): CsvTable {
  const records: Array<{ line: number; fields: string[] }> = [];
  let field = '';
  let fields: string[] = [];
  let inQuotes = false;
  let line = 1;
  let recordLine = 1;
  let sawAny = false;
  const input = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < input.length; i += 1) {
    const char = input[i]!;
    if (inQuotes) {
      if (char === '"') {
        if (input[i + 1] === '"') {
          field += '"';
          i += 1;
        } else {
          inQuotes = false;
        }
      } else {
        if (char === '\n') line += 1;
        field += char;
      }
      continue;
    }
    if (char === '"' && field === '') {
      inQuotes = true;
      sawAny = true;
    } else if (char === ',') {
      fields.push(field);
      field = '';
      sawAny = true;
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && input[i + 1] === '\n') i += 1;
      fields.push(field);
      if (sawAny || fields.some((f) => f !== '')) records.push({ line: recordLine, fields });
      fields = [];
      field = '';
      sawAny = false;
      line += 1;
      recordLine = line;
    } else {
      field += char;
      sawAny = true;
    }
  }
  if (field !== '' || fields.length > 0 || sawAny) {
    fields.push(field);
    records.push({ line: recordLine, fields });
  }
  const [head, ...body] = records;
  const header = (head?.fields ?? []).map((h) => h.trim());
  const table: CsvTable = { header, rows: [], malformed: [] };
  for (const record of body) {
    if (record.fields.length !== header.length) {
      table.malformed.push({ line: record.line, reason: `${record.fields.length} fields, the header has ${header.length}` });
      continue;
    }
    const values: Record<string, string> = {};
    header.forEach((name, i) => {
      values[name] = record.fields[i]!.trim();
    });
    table.rows.push({ line: record.line, values });
  }
  return table;
}
