import type { GraphTemplate, GraphTemplateComponent } from '../../graph/types.js';
import type { TemplateParameter } from '../../store/types.js';

export type { TemplateParameter };

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

/** Placeholder names in order of first appearance, without repeats: "Hi {{1}}, {{2}} {{1}}" → ["1", "2"]. */
export function extractPlaceholders(text: string | undefined): string[] {
  if (!text) return [];
  const seen = new Set<string>();
  for (const match of text.matchAll(PLACEHOLDER)) seen.add(match[1]!);
  const names = [...seen];
  // Positional placeholders are filled by number, whatever order the text uses them in.
  if (names.every((n) => /^\d+$/.test(n))) names.sort((a, b) => Number(a) - Number(b));
  return names;
}

const MEDIA_FORMATS: Record<string, TemplateParameter['type']> = {
  IMAGE: 'image',
  VIDEO: 'video',
  DOCUMENT: 'document',
  LOCATION: 'location',
};

/** What a send must supply for this template: header, body and button parameters. */
export function requiredParameters(template: GraphTemplate): TemplateParameter[] {
  const params: TemplateParameter[] = [];
  for (const component of template.components ?? []) {
    const type = component.type.toUpperCase();
    if (type === 'HEADER') params.push(...headerParameters(component));
    else if (type === 'BODY') params.push(...textParameters('body', component.text, bodyExamples(component)));
    else if (type === 'BUTTONS') params.push(...buttonParameters(component));
  }
  return params;
}

function headerParameters(component: GraphTemplateComponent): TemplateParameter[] {
  const format = (component.format ?? 'TEXT').toUpperCase();
  const media = MEDIA_FORMATS[format];
  if (media) return [{ component: 'header', name: media, type: media }];
  const examples = new Map<string, string>();
  component.example?.header_text?.forEach((value, i) => examples.set(String(i + 1), value));
  for (const named of component.example?.header_text_named_params ?? []) examples.set(named.param_name, named.example);
  return textParameters('header', component.text, examples);
}

function bodyExamples(component: GraphTemplateComponent): Map<string, string> {
  const examples = new Map<string, string>();
  component.example?.body_text?.[0]?.forEach((value, i) => examples.set(String(i + 1), value));
  for (const named of component.example?.body_text_named_params ?? []) examples.set(named.param_name, named.example);
  return examples;
}

function textParameters(
  where: 'header' | 'body',
  text: string | undefined,
  examples: Map<string, string>,
): TemplateParameter[] {
  return extractPlaceholders(text).map((name) => {
    const example = examples.get(name);
    return { component: where, name, type: 'text', ...(example === undefined ? {} : { example }) };
  });
}

function buttonParameters(component: GraphTemplateComponent): TemplateParameter[] {
  const params: TemplateParameter[] = [];
  (component.buttons ?? []).forEach((button, index) => {
    const kind = button.type.toUpperCase();
    if (kind === 'URL') {
      const example = urlSuffixExample(button.url, Array.isArray(button.example) ? button.example[0] : button.example);
      for (const name of extractPlaceholders(button.url)) {
        params.push({
          component: 'button',
          name,
          type: 'text',
          buttonIndex: index,
          subType: 'url',
          ...(example === undefined ? {} : { example }),
        });
      }
    } else if (kind === 'COPY_CODE') {
      params.push({ component: 'button', name: 'coupon_code', type: 'coupon_code', buttonIndex: index, subType: 'copy_code' });
    }
  });
  return params;
}

/**
 * Meta's example for a URL button is the whole URL (`https://x.example/track/ABC123`), but a send supplies only the
 * part the placeholder stands for (`ABC123`): the URL's own text around `{{1}}` is cut off. An example that does not
 * fit the URL is dropped rather than shown (as a parameter, it would double the link).
 */
export function urlSuffixExample(url: string | undefined, example: string | undefined): string | undefined {
  if (example === undefined || url === undefined) return example;
  const match = /\{\{[^}]*\}\}/.exec(url);
  if (!match) return undefined;
  const prefix = url.slice(0, match.index);
  const suffix = url.slice(match.index + match[0].length);
  if (example.startsWith(prefix) && example.endsWith(suffix) && example.length >= prefix.length + suffix.length) {
    const value = example.slice(prefix.length, example.length - suffix.length);
    return value === '' ? undefined : value;
  }
  return /^https?:\/\//i.test(example) ? undefined : example;
}

/** "POSITIONAL" unless Meta says NAMED (older templates carry no parameter_format at all). */
export function parameterFormat(template: GraphTemplate): 'POSITIONAL' | 'NAMED' {
  return String(template.parameter_format ?? '').toUpperCase() === 'NAMED' ? 'NAMED' : 'POSITIONAL';
}
