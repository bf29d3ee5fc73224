/**
 * Server-rendered HTML for the console. Everything interpolated into `html\`…\`` is escaped unless it is itself
 * `Html` (built by this tag): message text, names and bodies are written by strangers.
 */

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type Renderable = Html | string | number | boolean | null | undefined | Renderable[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/**
 * Bidirectional embeddings, overrides and isolates: a stranger's name ending in U+202E would run on into the number
 * shown after it ("Bank Support 12345675551+"). They are shown as their code, as the CLI shows them.
 */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

export function escapeHtml(text: string): string {
  return text
    .replace(/[&<>"'`]/g, (c) => ESCAPES[c]!)
    .replace(BIDI_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function render(value: Renderable): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Renderable[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** A query string from parameters, blanks left out (values escaped by the caller's html tag). */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

export interface PageFrame {
  title: string;
  /** Which nav item is current. */
  view: 'live' | 'conversations' | 'approvals' | 'code' | 'templates' | 'relay';
  csrf: string;
  notice?: string | undefined;
  error?: string | undefined;
  /** The workspace shown, and the others to switch to. */
  workspace: string;
  workspaces: string[];
  counts?: { pendingApproval: number } | undefined;
  /** Where the page's stylesheet, script and icon are, by file name (versioned by their content, cached for good). */
  assets: Record<'console.css' | 'console.js' | 'favicon.svg', string>;
}

const NAV: Array<[PageFrame['view'], string, string]> = [
  ['live', 'Live', '/console'],
  ['conversations', 'Conversations', '/console/conversations'],
  ['approvals', 'Approvals', '/console/approvals'],
  ['code', 'Your code', '/console/events'],
  ['templates', 'Templates', '/console/templates'],
  ['relay', 'Relay', '/console/relay'],
];

export function page(frame: PageFrame, body: Html): Html {
  const ws = frame.workspaces.length > 1 ? query({ ws: frame.workspace }) : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="lumen-csrf" content="${frame.csrf}">
<title>${frame.title} · lumen console</title>
<link rel="icon" href="${frame.assets['favicon.svg']}">
<link rel="stylesheet" href="${frame.assets['console.css']}">
<script src="${frame.assets['console.js']}" defer></script>
</head>
<body data-view="${frame.view}">
<header>
<strong class="brand">lumen</strong>
<nav>${NAV.map(
    ([view, label, href]) =>
      html`<a href="${href}${ws}"${view === frame.view ? html` aria-current="page"` : ''}>${label}${
        view === 'approvals' && frame.counts && frame.counts.pendingApproval > 0 ? html` <span class="badge">${frame.counts.pendingApproval}</span>` : ''
      }</a>`,
  )}</nav>
${
  frame.workspaces.length > 1
    ? html`<form method="get" class="ws"><label>Workspace <select name="ws" data-autosubmit>${frame.workspaces.map(
        (name) => html`<option${name === frame.workspace ? html` selected` : ''}>${name}</option>`,
      )}</select></label><noscript><button>Go</button></noscript></form>`
    : ''
}
</header>
<main>
${frame.notice ? html`<p class="notice" role="status">${frame.notice}</p>` : ''}
${frame.error ? html`<p class="error" role="alert">${frame.error}</p>` : ''}
${body}
</main>
</body>
</html>`;
}

/** A form that POSTs an action, carrying the CSRF token. */
export function postForm(action: string, csrf: string, inner: Html, attrs = ''): Html {
  return html`<form method="post" action="${action}"${new Html(attrs ? ` ${attrs}` : '')}><input type="hidden" name="_csrf" value="${csrf}">${inner}</form>`;
}

export function time(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="dim">—</span>`;
  return html`<time datetime="${iso}" title="${iso}">${iso.replace('T', ' ').slice(0, 19)}</time>`;
}
