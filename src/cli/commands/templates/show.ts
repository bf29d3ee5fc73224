import { printable } from '../../table.js';
import type { Context } from '../../context.js';
import type { Options } from '../../declare.js';
import { serviceDeps } from '../../deps.js';
import { resolveIntegration } from '../../../services/whatsapp/integrations.js';
import type { show } from './index.js';

export async function run(ctx: Context, options: Options<typeof show>, name: string): Promise<void> {
  const deps = await serviceDeps(ctx);
  const integration = await resolveIntegration(deps.store, await ctx.workspace(), options.integration);
  const { findTemplate } = await import('../../../services/messages/compose.js');
  const template = await findTemplate(deps.store, integration, name, options.lang);

  const data = {
    name: template.name,
    language: template.language,
    status: template.status,
    category: template.category,
    parameterFormat: template.parameterFormat,
    id: template.templateId,
    components: template.raw.components ?? [],
    parameters: template.requiredParameters,
  };
  const s = ctx.out.style;
  ctx.out.result(data, () => {
    // Meta's text (and a template-components webhook's): shown with control characters escaped.
    const lines = [
      `${s.bold(printable(data.name))} (${printable(data.language)}) · ${printable(data.status)} · ${printable(data.category ?? 'no category')} · ${data.parameterFormat}`,
      '',
    ];
    for (const component of data.components) {
      const kind = String(component.type).toUpperCase();
      const format = component.format && component.format !== 'TEXT' ? ` [${component.format}]` : '';
      if (component.text) lines.push(`${kind}${format}:`, ...component.text.split('\n').map((l) => `  ${l}`));
      else if (component.buttons?.length) lines.push(`${kind}:`);
      else if (format) lines.push(`${kind}${format}`);
      for (const [index, button] of (component.buttons ?? []).entries()) {
        lines.push(`  button ${index}: ${button.type} "${button.text ?? ''}"${button.url ? ` → ${button.url}` : ''}`);
      }
    }
    lines.push('');
    if (data.parameters.length === 0) {
      lines.push('No parameters: send it as it is.');
    } else {
      lines.push('Parameters a send must supply:');
      for (const p of data.parameters) {
        const where = p.component === 'button' ? `button ${p.buttonIndex} (${p.subType})` : p.component;
        const url = p.subType === 'url' ? buttonUrl(data.components, p.buttonIndex) : undefined;
        const part = url ? `  (only the part for ${url.replace(/\{\{[^}]*\}\}/, '…')})` : '';
        lines.push(`  ${where.padEnd(18)} ${p.name.padEnd(14)} ${p.type}${p.example ? `  e.g. "${p.example}"` : ''}${part}`);
      }
    }
    const shown = [lines[0]!, ...lines.slice(1).map(printable)];
    if (data.status !== 'APPROVED') shown.push('', s.yellow(`Status is ${printable(data.status)}: Meta only delivers APPROVED templates.`));
    return shown;
  });
}

/** The URL of a template's button by index (the URL a URL button's parameter completes). */
function buttonUrl(components: Array<{ type?: unknown; buttons?: Array<{ url?: string }> }>, index: number | undefined): string | undefined {
  if (index === undefined) return undefined;
  const buttons = components.find((c) => String(c.type).toUpperCase() === 'BUTTONS')?.buttons;
  return buttons?.[index]?.url;
}
