import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import type { GraphTemplate } from '../../src/graph/types.js';
import { seedTemplates } from '../../src/sandbox/index.js';
import { checkEncoding, openCsv, type CsvRow, type MalformedRow } from '../../src/services/messages/csv.js';
import { assertCountryCode, normalizeRecipient } from '../../src/services/messages/recipient.js';
import { FIELD_SPELLING } from '../../src/services/messages/message-types.js';
import { buildTemplateComponents, parseBodyValues, type TemplateValues } from '../../src/services/messages/template-body.js';
import { parameterFormat, requiredParameters } from '../../src/services/templates/parameters.js';
import type { TemplateRecord } from '../../src/store/types.js';

/** A template as `lumen templates sync` stores it, from a Graph API template object. */
function record(template: GraphTemplate): TemplateRecord {
  return {
    integrationId: 'wa_test',
    templateId: template.id,
    name: template.name,
    language: template.language,
    status: template.status,
    category: template.category ?? null,
    parameterFormat: parameterFormat(template),
    requiredParameters: requiredParameters(template),
    raw: template,
    syncedAt: '2025-01-01T00:00:00.000Z',
  };
}

/** One of the sandbox's seed templates (the same ones the CLI tests send). */
function seed(name: string, language = 'en_US'): TemplateRecord {
  const found = seedTemplates().find((t) => t.name === name && t.language === language);
  if (!found) throw new Error(`no seed template ${name} ${language}`);
  return record(found as unknown as GraphTemplate);
}

/** The error thrown by `work`, which must be a UserError. */
function userErrorOf(work: () => unknown): UserError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error('expected a UserError, nothing was thrown');
}

describe('normalizeRecipient', () => {
  it.each([
    ['+15551234567', '15551234567'],
    ['15551234567', '15551234567'],
    ['+1 (555) 123-4567', '15551234567'],
    ['  +1 555.123.4567 ', '15551234567'],
    ['0015551234567', '15551234567'],
    ['+44 20 7946 0958', '442079460958'],
    ['+491711234567', '491711234567'],
    ['+86 138 0013 8000', '8613800138000'],
    ['+351 912 345 678', '351912345678'],
  ])('%j → %j', (input, digits) => {
    expect(normalizeRecipient(input)).toBe(digits);
  });

  it.each([
    ['abc'],
    ['+12'],
    [''],
    ['+'],
    ['+1555abc4567'],
    ['++15551234567'],
    ['+1 555 123 4567 ext 2'],
    ['1234567'], // too short to be a number anywhere
    ['+1234567890123456'], // 16 digits
    ['05551234567'], // national format, no country code
    ['+00 15551234567'],
    ['+123456789012345'], // 15 digits, but too long for +1 (libphonenumber-js knows each country's lengths)
    ['+4420794609581234'], // too long for +44
    ['+999123456789'], // no country has +999
  ])('refuses %j as a usage error with an example in the hint', (input) => {
    const error = userErrorOf(() => normalizeRecipient(input));
    expect(error.kind).toBe('usage');
    expect(error.message).toBe(`"${input}" is not a phone number in international format.`);
    expect(error.hint).toContain('+15551234567');
  });

  it('refuses a North American number written without its 1 (it would go to +55 or +20), and takes valid ten-digit ones', () => {
    for (const [input, code, country] of [['(555) 123-4567', '55', 'Brazil'], ['5551234567', '55', 'Brazil'], ['202-555-0123', '20', 'Egypt']] as const) {
      const error = userErrorOf(() => normalizeRecipient(input));
      expect(error.kind).toBe('usage');
      expect(error.message).toBe(`"${input}" has no country code: as written it is +${code} (${country}), where it is not a valid number.`);
      expect(error.hint).toMatch(/^A US or Canadian number\? Write it with \+1: \+1 \d{3} \d{3} \d{4}\./);
    }
    // With + it is meant as written; a valid number of ten digits (Denmark's, as Meta's ids give it) is taken
    expect(normalizeRecipient('+5551234567')).toBe('5551234567');
    expect(normalizeRecipient('4532123456')).toBe('4532123456');
    expect(normalizeRecipient('1 (555) 123-4567')).toBe('15551234567');
  });

  it('refuses a typed ten-digit number that is a valid North American one, naming every reading (assertCountryCode)', () => {
    expect(userErrorOf(() => assertCountryCode('6465550100')).message).toBe(
      '"6465550100" has no country code: it could be +1 646 555 0100 (US or Canada) or +64 6 555 0100 (New Zealand).',
    );
    expect(userErrorOf(() => assertCountryCode('(415) 867-5309')).message).toBe('"(415) 867-5309" has no country code: it could be +1 415 867 5309 (US or Canada).');
    for (const meant of ['+16465550100', '+64 6 555 0100', '4532123456', '15551234567', 'US.13491208655302741918']) expect(() => assertCountryCode(meant)).not.toThrow();
    // A wa_id (as Meta gives them, with the country code) is checked by normalizeRecipient alone, which takes it
    expect(normalizeRecipient('6465550100')).toBe('6465550100');
    expect(userErrorOf(() => normalizeRecipient('4158675309')).hint).toMatch(/A US or Canadian number\? Write it with \+1: \+1 415 867 5309\./);
  });

  it('says why a number is not possible', () => {
    expect(userErrorOf(() => normalizeRecipient('+4420794609581234')).hint).toMatch(/^It is too long for its country\./);
    expect(userErrorOf(() => normalizeRecipient('+999123456789')).hint).toMatch(/^No country has that calling code\./);
  });
});

describe('buildTemplateComponents', () => {
  const orderUpdate = seed('order_update');
  const welcome = seed('welcome');
  const full: TemplateValues = { header: '#123', body: ['Ana', '#123'], buttons: { 0: 'ABC' } };

  it('builds header, body and URL-button components for a positional template, in Meta\'s shape', () => {
    expect(buildTemplateComponents(orderUpdate, full)).toStrictEqual([
      { type: 'header', parameters: [{ type: 'text', text: '#123' }] },
      { type: 'body', parameters: [{ type: 'text', text: 'Ana' }, { type: 'text', text: '#123' }] },
      { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'ABC' }] },
    ]);
  });

  it('fills positional placeholders by number, whatever order the text uses them in', () => {
    const template = record({
      id: '9',
      name: 'swapped',
      language: 'en_US',
      status: 'APPROVED',
      components: [{ type: 'BODY', text: 'Order {{2}} for {{1}} ({{2}})' }],
    } as GraphTemplate);
    expect(buildTemplateComponents(template, { body: ['Ana', '#7'] })).toStrictEqual([
      { type: 'body', parameters: [{ type: 'text', text: 'Ana' }, { type: 'text', text: '#7' }] },
    ]);
  });

  it('sends named parameters in the template\'s order with parameter_name, whatever order they were given in', () => {
    expect(buildTemplateComponents(welcome, { body: { shop: 'Lumen', first_name: 'Ana' } })).toStrictEqual([
      {
        type: 'body',
        parameters: [
          { type: 'text', text: 'Ana', parameter_name: 'first_name' },
          { type: 'text', text: 'Lumen', parameter_name: 'shop' },
        ],
      },
    ]);
  });

  it('adds parameter_name to a named template\'s text header', () => {
    const template = record({
      id: '10',
      name: 'named_header',
      language: 'en_US',
      status: 'APPROVED',
      parameter_format: 'NAMED',
      components: [
        { type: 'HEADER', format: 'TEXT', text: 'Order {{order_id}}' },
        { type: 'BODY', text: 'Hi {{first_name}}' },
      ],
    } as GraphTemplate);
    expect(buildTemplateComponents(template, { header: '#9', body: { first_name: 'Ana' } })).toStrictEqual([
      { type: 'header', parameters: [{ type: 'text', text: '#9', parameter_name: 'order_id' }] },
      { type: 'body', parameters: [{ type: 'text', text: 'Ana', parameter_name: 'first_name' }] },
    ]);
  });

  it('sends no components for a template without parameters, and none for quick-reply buttons', () => {
    expect(buildTemplateComponents(seed('hello_world'), { body: [] })).toStrictEqual([]);
    expect(buildTemplateComponents(seed('appointment_reminder'), { body: ['Ana', 'May 3', '10:30'] })).toStrictEqual([
      { type: 'body', parameters: ['Ana', 'May 3', '10:30'].map((text) => ({ type: 'text', text })) },
    ]);
  });

  it('sends a media header as a link for a URL and as an id otherwise, and a copy-code button as coupon_code', () => {
    const template = record({
      id: '11',
      name: 'media',
      language: 'en_US',
      status: 'APPROVED',
      components: [
        { type: 'HEADER', format: 'IMAGE' },
        { type: 'BODY', text: 'Your code' },
        { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Stop' }, { type: 'COPY_CODE', example: 'SAVE10' }] },
      ],
    } as GraphTemplate);
    expect(buildTemplateComponents(template, { header: 'https://x.example/a.png', body: [], buttons: { 1: 'SAVE10' } })).toStrictEqual([
      { type: 'header', parameters: [{ type: 'image', image: { link: 'https://x.example/a.png' } }] },
      { type: 'button', sub_type: 'copy_code', index: '1', parameters: [{ type: 'coupon_code', coupon_code: 'SAVE10' }] },
    ]);
    expect(buildTemplateComponents(template, { header: '1234567890', body: [], buttons: { 1: 'X' } })[0]).toStrictEqual({
      type: 'header',
      parameters: [{ type: 'image', image: { id: '1234567890' } }],
    });
  });

  it.each<[string, TemplateValues, RegExp]>([
    ['too few body values', { ...full, body: ['Ana'] }, /the body takes 2 parameters, 1 given/],
    ['too many body values', { ...full, body: ['Ana', '#1', 'extra'] }, /the body takes 2 parameters, 3 given/],
    ['an empty body value', { ...full, body: ['Ana', ''] }, /a body parameter is empty/],
    ['a line break in a body value (Meta refuses it, 132018)', { ...full, body: ['Ana', '#1\nsecond'] }, /body parameter \{\{2\}\} has a line break or a tab/],
    ['a tab in a body value', { ...full, body: ['A\tna', '#1'] }, /body parameter \{\{1\}\} has a line break or a tab/],
    ['five spaces in a row', { ...full, body: ['Ana', '#1     2'] }, /more than 4 spaces in a row/],
    ['no header value', { ...full, header: undefined }, /the header needs a value \(--header-param\)/],
    ['an empty header value', { ...full, header: '' }, /the header needs a value/],
    ['no button value', { ...full, buttons: {} }, /button 0 needs a value \(--button-param 0=VALUE\)/],
    ['a value for a button without a placeholder', { ...full, buttons: { 0: 'ABC', 1: 'X' } }, /button 1 takes no parameter/],
  ])('refuses %s for order_update (usage error, naming what it takes)', (_what, values, message) => {
    const error = userErrorOf(() => buildTemplateComponents(orderUpdate, values));
    expect(error.message).toMatch(message);
    expect(error.message).toContain('order_update (en_US)');
    expect(error.code).toBe('template_parameters');
    expect(error.kind).toBe('usage');
    expect(error.hint).toContain('header:1, body:1, body:2, button 0');
    expect(error.hint).toContain('lumen templates show order_update --lang en_US');
  });

  it('names the short form\'s JSON fields, not the flags, for a message written as JSON (the local API, replies)', () => {
    expect(userErrorOf(() => buildTemplateComponents(orderUpdate, { ...full, buttons: {} }, FIELD_SPELLING)).message).toMatch(
      /button 0 needs a value \(template\.buttons: \{"0": "VALUE"\}\)/,
    );
    expect(userErrorOf(() => buildTemplateComponents(orderUpdate, { ...full, header: undefined }, FIELD_SPELLING)).message).toMatch(
      /the header needs a value \(template\.header\)/,
    );
  });

  it.each<[string, TemplateValues, RegExp]>([
    ['an unknown name', { body: { first_name: 'Ana', shop: 'Lumen', city: 'Porto' } }, /unknown parameter city\./],
    ['a missing name', { body: { first_name: 'Ana' } }, /missing shop\./],
    ['an empty value', { body: { first_name: 'Ana', shop: '' } }, /missing shop\./],
    ['a line break in a value', { body: { first_name: 'Ana\r\nB', shop: 'Lumen' } }, /parameter first_name has a line break or a tab/],
    ['positional values', { body: ['Ana', 'Lumen'] }, /it takes named parameters \(name=value\)/],
    ['a header value', { body: { first_name: 'Ana', shop: 'Lumen' }, header: 'Hi' }, /it has no header parameter/],
  ])('refuses %s for the named template welcome', (_what, values, message) => {
    const error = userErrorOf(() => buildTemplateComponents(welcome, values));
    expect(error.message).toMatch(message);
    expect(error.kind).toBe('usage');
    expect(error.hint).toContain('body:first_name, body:shop');
  });

  it('says a template takes no parameters when one is given anyway', () => {
    const error = userErrorOf(() => buildTemplateComponents(seed('hello_world'), { body: ['x'] }));
    expect(error.message).toContain('the body takes 0 parameters, 1 given');
    expect(error.hint).toBe('It takes no parameters.');
  });
});

/** The whole table, as a bulk send reads it. */
async function readCsv(text: string, name?: string) {
  const file = openCsv(text, name);
  const table = { header: file.header, rows: [] as CsvRow[], malformed: [] as MalformedRow[] };
  for await (const row of file.rows()) {
    if ('reason' in row) table.malformed.push(row);
    else table.rows.push(row);
  }
  return table;
}

describe('openCsv', () => {
  it('reads a header and rows, trimming names and values, with 1-based line numbers', async () => {
    expect(await readCsv('to, name ,shop\n+15550000001, Ana ,Lumen\n+15550000002,Bo,Lumen\n')).toEqual({
      header: ['to', 'name', 'shop'],
      rows: [
        { line: 2, values: { to: '+15550000001', name: 'Ana', shop: 'Lumen' } },
        { line: 3, values: { to: '+15550000002', name: 'Bo', shop: 'Lumen' } },
      ],
      malformed: [],
    });
  });

  it('keeps commas, doubled quotes and line breaks inside quoted fields, and counts lines past them', async () => {
    const table = await readCsv('to,name,note\n"+1 555 000 0001","Smith, Ana","say ""hi""\nthen bye"\n+15550000002,Bo,plain\n');
    expect(table.malformed).toEqual([]);
    expect(table.rows).toEqual([
      { line: 2, values: { to: '+1 555 000 0001', name: 'Smith, Ana', note: 'say "hi"\nthen bye' } },
      { line: 4, values: { to: '+15550000002', name: 'Bo', note: 'plain' } },
    ]);
  });

  it('accepts CRLF line endings, a UTF-8 BOM and a last line without a line break', async () => {
    const table = await readCsv('\uFEFFto,name\r\n+15550000001,Ana\r\n+15550000002,Bo');
    expect(table.header).toEqual(['to', 'name']);
    expect(table.rows.map((r) => [r.line, r.values.name])).toEqual([
      [2, 'Ana'],
      [3, 'Bo'],
    ]);
    // A file saved on Windows with line breaks inside quoted fields (an address): each row still names its own line
    const windows = await readCsv('to,name\r\n+15550000001,"Ana\r\nSmith"\r\n\r\n+15550000002,Bo\r\n+15550000003,"C\r\nD\r\nE",extra\r\n+15550000004,Di\r\n');
    expect(windows.rows.map((r) => r.line)).toEqual([2, 5, 9]);
    expect(windows.malformed).toEqual([{ line: 6, reason: '3 fields, the header has 2' }]);
    // Line ends mixed in one file (rows pasted from another): each is a line end, and a quoted field keeps no quotes
    const mixed = await readCsv('to,name\n+15550000001,"Ana"\r\n+15550000002,Bo\r+15550000003,"C\r\nD"\n+15550000004,Di\r\n');
    expect(mixed.rows.map((r) => [r.line, r.values.name])).toEqual([
      [2, 'Ana'],
      [3, 'Bo'],
      [4, 'C\r\nD'],
      [6, 'Di'],
    ]);
    // And one saved with classic Mac line ends (a CR alone), inside quoted fields too
    const mac = await readCsv('to,name\r+15550000001,"Ana\rSmith"\r\r+15550000002,Bo\r+15550000003,"C\rD\rE",extra\r+15550000004,Di\r');
    expect(mac.rows.map((r) => r.line)).toEqual([2, 5, 9]);
    expect(mac.malformed).toEqual([{ line: 6, reason: '3 fields, the header has 2' }]);
  });

  it('skips blank lines but keeps counting them', async () => {
    const table = await readCsv('to,name\n\n+15550000001,Ana\n\n\n+15550000002,Bo\n\n');
    expect(table.rows.map((r) => r.line)).toEqual([3, 6]);
    expect(table.malformed).toEqual([]);
  });

  it('keeps empty fields (an empty quoted field too) so the row can be reported as missing a value', async () => {
    const table = await readCsv('to,name,shop\n+15550000001,,Lumen\n+15550000002,"",Lumen\n');
    expect(table.rows.map((r) => r.values.name)).toEqual(['', '']);
  });

  it('reports rows with the wrong number of fields by line, without dropping the others', async () => {
    const table = await readCsv('to,name\n+15550000001\n+15550000002,Bo\n+15550000003,Cy,extra\n');
    expect(table.rows.map((r) => r.line)).toEqual([3]);
    expect(table.malformed).toEqual([
      { line: 2, reason: '1 fields, the header has 2' },
      { line: 4, reason: '3 fields, the header has 2' },
    ]);
  });

  it('returns an empty header for an empty file', async () => {
    expect(await readCsv('')).toEqual({ header: [], rows: [], malformed: [] });
    expect(await readCsv('\uFEFF')).toEqual({ header: [], rows: [], malformed: [] });
  });
  it('refuses a file with an unterminated quote, naming the line where it opens, instead of losing the rows after it', () => {
    const error = userErrorOf(() => openCsv('to,name\n+15550000001,Ana\n+15550000002,"Bo\n+15550000003,Cy\n+15550000004,Di\n', 'r.csv'));
    expect(error).toMatchObject({ code: 'csv_malformed', kind: 'usage' });
    expect(error.message).toBe('r.csv, line 3: a quoted field is never closed (a " without its closing ").');
    expect(error.hint).toContain('line 3');
    // The same on Windows line breaks, after a quoted field with one, and after blank lines
    const windows = userErrorOf(() => openCsv('to,name\r\n+15550000001,"Ana\r\nSmith"\r\n\r\n+15550000002,"Bo\r\n+15550000003,Cy\r\n', 'w.csv'));
    expect(windows.message).toBe('w.csv, line 5: a quoted field is never closed (a " without its closing ").');
    const mac = userErrorOf(() => openCsv('to,name\r+15550000001,"Ana\rSmith"\r\r+15550000002,"Bo\r+15550000003,Cy\r', 'm.csv'));
    expect(mac.message).toBe('m.csv, line 5: a quoted field is never closed (a " without its closing ").');
  });

  it('names the line of a byte that is not UTF-8, or a NUL, whatever the line ends (LF, CRLF, a CR alone)', () => {
    for (const end of ['\n', '\r\n', '\r']) {
      const latin1 = Buffer.concat([Buffer.from(`to,name${end}+15550000001,Ana${end}+15550000002,Jos`), Buffer.from([0xe9]), Buffer.from(end)]);
      expect(userErrorOf(() => checkEncoding(latin1, 'l.csv')).message).toBe('l.csv, line 3: the file is not UTF-8 text (saved as Latin-1 or Windows-1252?).');
      const nul = Buffer.concat([Buffer.from(`to,name${end}+1555${end}`), Buffer.from([0]), Buffer.from(end)]);
      expect(userErrorOf(() => checkEncoding(nul, 'n.csv')).message).toMatch(/^n\.csv, line 3: the file holds NUL bytes/);
    }
  });

  it('says a semicolon-separated file is not comma-separated', () => {
    const error = userErrorOf(() => openCsv('to;first_name;shop\n+15550000001;Ana;Lumen\n', 'r.csv'));
    expect(error).toMatchObject({ code: 'csv_delimiter', kind: 'usage' });
    expect(error.message).toBe('r.csv is separated by semicolons, not commas: its header "to;first_name;shop" reads as one column.');
    expect(error.hint).toContain('comma');
  });

  it('reads a file of many chunks the same, whatever a cut splits (a UTF-8 sequence, a CRLF, a quoted field)', async () => {
    for (const end of ['\r\n', '\n', '\r']) {
      const lines = [`to,name,note${end}`];
      for (let i = 0; i < 3000; i += 1) lines.push(`+1555${String(i).padStart(7, '0')},"José 😀 ${i}","a${end}b, ""c"""${end}`);
      const table = await readCsv(lines.join(''));
      expect(table.malformed).toEqual([]);
      expect(table.rows).toHaveLength(3000);
      table.rows.forEach((row, i) => {
        expect(row).toEqual({ line: 2 + 2 * i, values: { to: `+1555${String(i).padStart(7, '0')}`, name: `José 😀 ${i}`, note: `a${end}b, "c"` } });
      });
    }
  });

  it('counts lines across quoted line breaks and blank lines', async () => {
    const table = await readCsv('to,note\n\n+15550000001,"two\nlines"\n\n+15550000002,x\n');
    expect(table.rows.map((r) => r.line)).toEqual([3, 6]);
  });
});

describe('named --param values', () => {
  it('refuses a name given twice (the last one would win silently)', () => {
    const error = userErrorOf(() => parseBodyValues(['shop=x', 'first_name=Ana', 'shop=y'], 'NAMED'));
    expect(error).toMatchObject({ message: 'Parameter shop is given twice (--param).', code: 'template_parameters', kind: 'usage' });
    expect(parseBodyValues(['shop=x', 'first_name=a=b'], 'NAMED')).toEqual({ shop: 'x', first_name: 'a=b' });
  });
});
