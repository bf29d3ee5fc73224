import { UserError } from '../../errors.js';
import type { TemplateParameter } from '../templates/parameters.js';
import type { TemplateRecord } from '../../store/types.js';
import { FLAG_SPELLING, type Spelling } from './message-types.js';

/** Parameter values as given on the command line or in a CSV row. */
export interface TemplateValues {
  /** Body values: in order for positional templates, `name=value` (or a map) for named ones. */
  body: string[] | Record<string, string>;
  /** Header value: text, or a media URL / media id for an IMAGE, VIDEO or DOCUMENT header. */
  header?: string | undefined;
  /** The file name a DOCUMENT header shows (else the URL's last segment). */
  headerFilename?: string | undefined;
  /** Button values by button index ("0=PAYLOAD" on the command line). */
  buttons?: Record<number, string> | undefined;
}

export interface TemplateComponent {
  type: 'header' | 'body' | 'button';
  sub_type?: string;
  index?: string;
  parameters: Array<Record<string, unknown>>;
}

function paramError(template: TemplateRecord, problem: string, expected: TemplateParameter[]): UserError {
  const list = expected.map((p) => (p.component === 'button' ? `button ${p.buttonIndex}` : `${p.component}:${p.name}`));
  return new UserError(`Template ${template.name} (${template.language}): ${problem}`, {
    code: 'template_parameters',
    hint: list.length > 0 ? `It takes: ${list.join(', ')}. See \`lumen templates show ${template.name} --lang ${template.language}\`.` : 'It takes no parameters.',
    kind: 'usage',
  });
}

/** Splits `name=value` pairs; for positional templates plain values are kept in order. */
export function parseBodyValues(
  values: string[],
  format: 'POSITIONAL' | 'NAMED',
  names: string[] = [],
  spelling: Spelling = FLAG_SPELLING,
): string[] | Record<string, string> {
  if (format === 'POSITIONAL') return values;
  const named: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) {
      throw new UserError(`Named parameters are given as name=value; got "${value}".`, {
        code: 'template_parameters',
        kind: 'usage',
        ...(names.length > 0 ? { hint: `This template's are: ${names.map((n) => spelling.param(n)).join(' ')}.` } : {}),
      });
    }
    const name = value.slice(0, eq).trim();
    if (Object.hasOwn(named, name)) {
      throw new UserError(`Parameter ${name} is given twice (${spelling.params}).`, { code: 'template_parameters', kind: 'usage' });
    }
    named[name] = value.slice(eq + 1);
  }
  return named;
}

export function parseButtonValues(values: string[]): Record<number, string> {
  const buttons: Record<number, string> = {};
  for (const value of values) {
    const match = /^(\d+)=(.*)$/s.exec(value);
    if (!match) throw new UserError(`--button-param takes INDEX=VALUE, e.g. 0=ORDER123; got "${value}".`, { code: 'template_parameters', kind: 'usage' });
    buttons[Number(match[1])] = match[2]!;
  }
  return buttons;
}

/** Meta refuses (132018) a text parameter with a new line or a tab, or more than 4 spaces in a row. */
function checkParameterText(template: TemplateRecord, what: string, text: string, required: TemplateRecord['requiredParameters']): void {
  if (/[\n\r\t]/.test(text)) throw paramError(template, `${what} has a line break or a tab, which WhatsApp does not allow in a parameter.`, required);
  if (/ {5}/.test(text)) throw paramError(template, `${what} has more than 4 spaces in a row, which WhatsApp does not allow in a parameter.`, required);
}

/**
 * The `components` of a template send, checked against the synced template: the right number of positional
 * values, exactly the named ones, a header and button values where the template has placeholders — so Meta never
 * answers 132000 (wrong count) for a mistake we can see here.
 */
export function buildTemplateComponents(template: TemplateRecord, values: TemplateValues, spelling: Spelling = FLAG_SPELLING): TemplateComponent[] {
  const required = template.requiredParameters;
  const components: TemplateComponent[] = [];
  const named = template.parameterFormat === 'NAMED';

  // Header
  const header = required.filter((p) => p.component === 'header');
  if (header.length === 0 && values.header !== undefined) throw paramError(template, 'it has no header parameter.', required);
  if (values.headerFilename !== undefined && header[0]?.type !== 'document') {
    throw paramError(template, `a file name (${spelling.filename}) is for a DOCUMENT header, and its header is not one.`, required);
  }
  if (header.length > 0) {
    if (values.header === undefined || values.header === '') throw paramError(template, `the header needs a value (${spelling.headerParam}).`, required);
    const first = header[0]!;
    if (first.type === 'text') {
      checkParameterText(template, 'the header parameter', values.header, required);
      components.push({ type: 'header', parameters: [{ type: 'text', text: values.header, ...(named ? { parameter_name: first.name } : {}) }] });
    } else if (first.type === 'location') {
      throw paramError(template, 'location headers cannot be sent from the command line yet.', required);
    } else {
      const value = values.header;
      const media: { link: string } | { id: string } = /^https?:\/\//.test(value) ? { link: value } : { id: value };
      // A document header shows a file name in the chat: the URL's last segment, or the one given (--filename).
      const filename =
        first.type === 'document' ? (values.headerFilename ?? (('link' in media && fileNameOf(media.link)) || undefined)) : undefined;
      components.push({ type: 'header', parameters: [{ type: first.type, [first.type]: { ...media, ...(filename ? { filename } : {}) } }] });
    }
  }

  // Body
  const body = required.filter((p) => p.component === 'body');
  if (Array.isArray(values.body)) {
    if (named && values.body.length > 0) throw paramError(template, 'it takes named parameters (name=value).', required);
    if (values.body.length !== body.length) {
      throw paramError(template, `the body takes ${body.length} parameter${body.length === 1 ? '' : 's'}, ${values.body.length} given.`, required);
    }
    const texts = values.body;
    if (texts.some((t) => t === '')) throw paramError(template, 'a body parameter is empty.', required);
    texts.forEach((text, i) => checkParameterText(template, `body parameter {{${i + 1}}}`, text, required));
    if (body.length > 0) components.push({ type: 'body', parameters: texts.map((text) => ({ type: 'text', text })) });
  } else {
    const given = values.body;
    const expectedNames = body.map((p) => p.name);
    const unknown = Object.keys(given).filter((name) => !expectedNames.includes(name));
    const missing = expectedNames.filter((name) => given[name] === undefined || given[name] === '');
    if (unknown.length > 0) throw paramError(template, `unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}.`, required);
    if (missing.length > 0) throw paramError(template, `missing ${missing.join(', ')}.`, required);
    for (const p of body) checkParameterText(template, `parameter ${p.name}`, given[p.name]!, required);
    if (body.length > 0) {
      components.push({
        type: 'body',
        parameters: body.map((p) => ({ type: 'text', text: given[p.name]!, parameter_name: p.name })),
      });
    }
  }

  // Buttons
  const buttons = required.filter((p) => p.component === 'button');
  const givenButtons = values.buttons ?? {};
  for (const index of Object.keys(givenButtons).map(Number)) {
    if (!buttons.some((p) => p.buttonIndex === index)) throw paramError(template, `button ${index} takes no parameter.`, required);
  }
  for (const button of buttons) {
    const value = givenButtons[button.buttonIndex!];
    if (value === undefined || value === '') {
      throw paramError(template, `button ${button.buttonIndex} needs a value (${spelling.buttonParam(button.buttonIndex!)}).`, required);
    }
    components.push({
      type: 'button',
      sub_type: button.subType!,
      index: String(button.buttonIndex),
      parameters: [button.subType === 'copy_code' ? { type: 'coupon_code', coupon_code: value } : { type: 'text', text: value }],
    });
  }
  return components;
}

export function templateMessageBody(to: string, template: TemplateRecord, components: TemplateComponent[]) {
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'template',
    template: {
      name: template.name,
      language: { code: template.language },
      ...(components.length > 0 ? { components } : {}),
    },
  };
}

function fileNameOf(link: string): string | undefined {
  try {
    const last = new URL(link).pathname.split('/').pop();
    return last ? decodeURIComponent(last) : undefined;
  } catch {
    return undefined;
  }
}
