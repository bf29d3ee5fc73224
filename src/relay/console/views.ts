/** The console's pages, as escaped HTML (see html.ts). Each takes plain data and renders it; none reads anything. */
import type { Contact, DispatchEvent, DispatchState, Integration, OutboundMessage, TemplateRecord, ThreadItem } from '../../store/types.js';
import type { DeliveryFilter, DeliveryRecord } from '../deliveries.js';
import type { Conversation, ForwardRow } from './data.js';
import { type Html, html, postForm, query, time, type PageFrame } from './html.js';

const KINDS = ['message', 'status', 'template', 'account', 'ignored', 'rejected', 'handshake', 'error'];

export function missing(text: string): Html {
  return html`<p class="empty">${text}</p>`;
}

/** One row of the live feed, as the stream sends it (the script renders it with textContent only). */
export function deliveryRow(record: DeliveryRecord) {
  return {
    id: record.id,
    at: new Date(record.atMs).toISOString(),
    kind: record.kind,
    status: record.status,
    signature: record.signature,
    summary: record.summary,
    integrationId: record.integrationId,
    numbers: record.numbers,
    method: record.method,
    text: record.body.toString('utf8').slice(0, 20_000),
  };
}

function rowHtml(record: DeliveryRecord): Html {
  return html`<tr data-id="${record.id}" data-kind="${record.kind}" class="kind-${record.kind}">
<td>${time(new Date(record.atMs).toISOString())}</td><td><span class="tag">${record.kind}</span></td><td>${record.method}</td><td>${record.status}</td>
<td>${record.signature}</td><td class="wide"><a href="/console/deliveries/${record.id}">${record.summary || '(no summary)'}</a></td></tr>`;
}

export function live(records: DeliveryRecord[], filter: DeliveryFilter, pageSize: number): Html {
  const last = records.at(-1);
  return html`<h1>Live deliveries</h1>
<form method="get" class="filters" id="feed-filter">
<label>Kind <select name="kind"><option value="">any</option>${KINDS.map(
    (k) => html`<option${filter.kind === k ? html` selected` : ''}>${k}</option>`,
  )}</select></label>
<label>Number <input name="number" value="${filter.number ?? ''}" placeholder="digits or user id"></label>
<label>Text <input name="text" value="${filter.text ?? ''}" placeholder="anywhere in the body"></label>
<button>Filter</button>
<button type="button" id="pause" aria-pressed="false">Pause</button>
<span id="live-state" class="dim">connecting…</span>
</form>
<table class="feed"><thead><tr><th>time</th><th>kind</th><th></th><th>answer</th><th>signature</th><th>what</th></tr></thead>
<tbody id="feed">${records.map(rowHtml)}</tbody></table>
${records.length === 0 ? html`<p class="empty" id="feed-empty">Nothing yet: webhooks appear here as they arrive (since the relay started).</p>` : ''}
${records.length === pageSize && last ? html`<p><a href="/console${query({ ...filter, before: last.id })}">Older</a></p>` : ''}`;
}

function prettyBody(body: Buffer): string {
  const text = body.toString('utf8');
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function delivery(record: DeliveryRecord): Html {
  return html`<h1>Delivery ${record.id} <span class="tag">${record.kind}</span></h1>
<p>${time(new Date(record.atMs).toISOString())} · ${record.method} <code>${record.url}</code> · answered <strong>${record.status}</strong> · signature <strong>${record.signature}</strong>${
    record.integrationId ? html` · number ${record.integrationId}` : ''
  }</p>
<p>${record.summary}</p>
<p><a class="button" href="/console/deliveries/${record.id}/file" download>Save as file</a>
<span class="dim">then <code>lumen trigger --file delivery-${record.id}.json</code> sends it again, signed</span></p>
<h2>Headers</h2>
<table class="kv">${Object.entries(record.headers).map(([k, v]) => html`<tr><th>${k}</th><td><code>${v}</code></td></tr>`)}</table>
<h2>Body <span class="dim">(${record.bodyBytes} bytes${record.bodyBytes > record.body.length ? html`, the first ${record.body.length} kept` : ''})</span></h2>
<pre class="body">${prettyBody(record.body)}</pre>
<h2>Answer</h2>
<pre>${record.answer}</pre>`;
}

function who(contact: { contactId: string; kind: string }): string {
  return contact.kind === 'user_id' || !/^\d+$/.test(contact.contactId) ? contact.contactId : `+${contact.contactId}`;
}

function remaining(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function conversations(contacts: Contact[], now: Date, pageSize: number, frame: PageFrame): Html {
  const last = contacts.at(-1);
  const ws = frame.workspaces.length > 1 ? frame.workspace : undefined;
  return html`<h1>Conversations</h1>
${contacts.length === 0 ? missing('Nobody has written yet.') : ''}
<ul class="contacts">${contacts.map((c) => {
    const closes = new Date(c.lastInboundAt).getTime() + 24 * 3600_000 - now.getTime();
    return html`<li><a href="/console/conversations/${encodeURIComponent(c.integrationId)}/${encodeURIComponent(c.contactId)}${query({ ws })}">
<strong>${c.name ?? who(c)}</strong> <span class="dim">${who(c)}</span></a>
<span class="dim">${c.messages} message${c.messages === 1 ? '' : 's'} · last ${time(c.lastInboundAt)}</span>
${closes > 0 ? html`<span class="tag open">window ${remaining(closes)}</span>` : html`<span class="tag">window closed</span>`}</li>`;
  })}</ul>
${
  contacts.length === pageSize && last
    ? html`<p><a href="/console/conversations${query({ ws, at: last.lastInboundAt, integration: last.integrationId, contact: last.contactId })}">More</a></p>`
    : ''
}`;
}

const TICKS: Record<string, [string, string]> = {
  queued: ['…', 'queued'],
  sending: ['…', 'sending'],
  accepted: ['✓', 'accepted by Meta'],
  sent: ['✓', 'sent'],
  delivered: ['✓✓', 'delivered'],
  read: ['✓✓', 'read'],
};

function ticks(message: OutboundMessage): Html {
  if (message.state === 'pending_approval') return html`<span class="tick held">waiting for approval</span>`;
  if (message.state === 'rejected') return html`<span class="tick failed">rejected by ${message.rejectedBy}: ${message.rejectReason}</span>`;
  if (message.state === 'failed') {
    return html`<span class="tick failed" title="${message.errorDetails ?? ''}">✗ failed${message.errorCode !== null ? ` ${message.errorCode}` : ''}${
      message.errorTitle ? `: ${message.errorTitle}` : ''
    }</span>`;
  }
  const [mark, label] = TICKS[message.state] ?? ['', message.state];
  return html`<span class="tick state-${message.state}" title="${label}" data-state="${message.state}">${mark} ${label}</span>`;
}

function outboundText(message: OutboundMessage): string {
  const body = message.body as Record<string, any>;
  if (message.kind === 'text') return String(body.text?.body ?? '');
  if (message.kind === 'template') {
    const values = ((body.template?.components ?? []) as Array<{ parameters?: Array<{ text?: string }> }>)
      .flatMap((c) => c.parameters ?? [])
      .map((p) => p.text)
      .filter((t): t is string => typeof t === 'string');
    return `[template ${message.templateName ?? ''}${message.templateLanguage ? ` ${message.templateLanguage}` : ''}]${values.length ? ` ${values.join(' · ')}` : ''}`;
  }
  const inner = body[message.kind] as Record<string, any> | undefined;
  return `[${message.kind}] ${String(inner?.caption ?? inner?.body?.text ?? inner?.body ?? inner?.link ?? inner?.emoji ?? '')}`.trim();
}

function bubble(item: ThreadItem, ids: { integrationId: string }): Html {
  if (item.direction === 'out') {
    const m = item.message;
    return html`<li class="bubble out" data-id="${m.id}"><p class="text">${outboundText(m)}</p>
<p class="meta">${time(m.createdAt)} · ${m.source} · ${ticks(m)}</p></li>`;
  }
  const { interaction: i, media } = item;
  let preview: Html | string = '';
  if (media) {
    const url = `/console/media/${encodeURIComponent(ids.integrationId)}/${encodeURIComponent(media.mediaId)}`;
    if (media.state !== 'stored') preview = html`<p class="dim">${i.type} ${media.state}${media.lastError ? `: ${media.lastError}` : ''}</p>`;
    else if (/^image\/(png|jpeg|webp)$/.test(media.mimeType ?? '')) preview = html`<a href="${url}"><img src="${url}" alt="${media.caption ?? 'image'}"></a>`;
    else preview = html`<p><a href="${url}?download=1">Download ${media.filename ?? i.type} (${media.size ?? 0} bytes)</a></p>`;
  }
  return html`<li class="bubble in" data-id="${i.id}">${preview}<p class="text">${i.text}</p>
<p class="meta">${time(i.timestamp)} · ${i.type} · <a href="/console/messages/${i.id}/file" download>save as delivery file</a></p></li>`;
}

export function conversation(
  convo: Conversation,
  ids: { integrationId: string; contactId: string },
  chosenTemplate: string | undefined,
  idempotencyKey: string,
  frame: PageFrame,
  pageSize: number,
): Html {
  const c = convo.contact;
  const base = `/console/conversations/${encodeURIComponent(ids.integrationId)}/${encodeURIComponent(ids.contactId)}`;
  const first = convo.items[0];
  const chosen = chosenTemplate ? convo.templates.find((t) => `${t.name}|${t.language}` === chosenTemplate) : undefined;
  return html`<h1>${c?.name ?? who({ contactId: ids.contactId, kind: c?.kind ?? 'phone' })}</h1>
<p class="contact">${who({ contactId: ids.contactId, kind: c?.kind ?? 'phone' })}${c?.userId ? html` · user id <code>${c.userId}</code>` : ''}${
    convo.integration ? html` · to ${convo.integration.label} (${convo.integration.displayPhoneNumber ?? convo.integration.phoneNumberId})` : ''
  }</p>
<p id="window" class="${convo.window.open ? 'open' : 'closed'}">${
    convo.window.open
      ? html`24-hour window open: ${remaining(convo.window.remainingMs)} left (closes ${time(convo.window.closesAt)})`
      : html`24-hour window closed${convo.window.closesAt ? html` (${time(convo.window.closesAt)})` : ''}: only a template can be sent`
  }</p>
${convo.items.length === pageSize && first ? html`<p><a href="${base}${query({ before: first.at })}">Earlier messages</a></p>` : ''}
<ol class="thread" id="thread" data-contact="${ids.contactId}">${convo.items.map((item) => bubble(item, ids))}</ol>
${
  convo.window.open
    ? postForm(
        `${base}/send`,
        frame.csrf,
        html`<input type="hidden" name="idempotency_key" value="${idempotencyKey}">
<label class="grow">Reply <textarea name="text" rows="2" required maxlength="4096" placeholder="Type a reply"></textarea></label>
<button>Send</button>`,
        'class="reply" id="reply"',
      )
    : ''
}
<section class="templates-form">
<h2>${convo.window.open ? 'Or send a template' : 'Send a template'}</h2>
${
  convo.templates.length === 0
    ? missing('No approved template is synced for this number (`lumen templates sync`).')
    : html`<form method="get" action="${base}" class="inline"><select name="template">${convo.templates.map(
        (t) => html`<option value="${t.name}|${t.language}"${chosen === t ? html` selected` : ''}>${t.name} (${t.language})</option>`,
      )}</select> <button>Choose</button></form>`
}
${chosen ? templateForm(chosen, `${base}/send`, frame.csrf, idempotencyKey) : ''}
</section>`;
}

function templateForm(template: TemplateRecord, action: string, csrf: string, idempotencyKey: string): Html {
  return postForm(
    action,
    csrf,
    html`<input type="hidden" name="template" value="${template.name}|${template.language}">
<input type="hidden" name="idempotency_key" value="${idempotencyKey}">
${template.requiredParameters.length === 0 ? html`<p class="dim">This template takes no parameters.</p>` : ''}
${template.requiredParameters.map(
  (p, i) => html`<label>${p.component}${p.component === 'button' ? ` ${p.buttonIndex ?? 0}` : ''} <code>${p.name}</code> (${p.type})
<input name="param" data-index="${i}" placeholder="${p.example ?? ''}" required></label>`,
)}
<button>Send ${template.name}</button>`,
    'class="template" id="template-form"',
  );
}

export function approvals(messages: OutboundMessage[], frame: PageFrame): Html {
  return html`<h1>Approvals</h1>
${messages.length === 0 ? missing('Nothing is waiting for approval.') : ''}
<ul class="approvals">${messages.map(
    (m) => html`<li data-id="${m.id}"><p><strong>${m.id}</strong> to ${m.recipientKind === 'user_id' ? m.recipient : `+${m.recipient}`} · ${m.kind} · ${m.source} · ${time(m.createdAt)}</p>
<p class="text">${outboundText(m)}</p>
<div class="actions">${postForm(
      `/console/approvals/${encodeURIComponent(m.id)}/approve`,
      frame.csrf,
      html`<input type="hidden" name="ws" value="${frame.workspace}"><button>Approve and send</button>`,
    )}
${postForm(
  `/console/approvals/${encodeURIComponent(m.id)}/reject`,
  frame.csrf,
  html`<input type="hidden" name="ws" value="${frame.workspace}"><input name="reason" required placeholder="reason"> <button class="danger">Reject</button>`,
)}</div></li>`,
  )}</ul>
<p class="dim">Decisions record who (the OS user running the relay) and when, as <code>lumen approvals</code> does.</p>`;
}

/** The other items handed to your code (--events documents, --forward-raw deliveries), each with Retry and Drop. */
function forwards(rows: ForwardRow[], frame: PageFrame): Html {
  if (rows.length === 0) return html``;
  const ws = html`<input type="hidden" name="ws" value="${frame.workspace}">`;
  return html`<h2>Other events handed on</h2>
<p class="dim">Statuses, templates… (<code>--events</code>) and Meta's deliveries (<code>--forward-raw</code>): <code>lumen events list</code> names them by these ids.</p>
<table><thead><tr><th>event</th><th>what</th><th>state</th><th>attempts</th><th>last answer</th><th>last error</th><th>next attempt</th><th></th></tr></thead>
<tbody>${rows.map(
    (r) => html`<tr><td>${r.ref}</td><td>${r.object === 'raw' ? "Meta's delivery" : r.object}</td><td><span class="tag state-${r.state}">${r.state}</span></td>
<td>${r.attempts}</td><td>${r.lastStatus ?? ''}</td><td>${r.lastError ?? ''}</td><td>${r.state === 'delivered' || r.state === 'dropped' || r.nextAttemptAt === null ? '' : time(r.nextAttemptAt)}</td>
<td class="actions">${postForm(`/console/forwards/${r.ref}/retry`, frame.csrf, html`${ws}<button>Retry now</button>`)}${
      r.state === 'pending' || r.state === 'retrying' ? postForm(`/console/forwards/${r.ref}/drop`, frame.csrf, html`${ws}<button class="danger">Drop</button>`) : ''
    }</td></tr>`,
  )}</tbody></table>`;
}

export function events(
  events: DispatchEvent[],
  state: DispatchState | undefined,
  target: string | null,
  pageSize: number,
  frame: PageFrame,
  others: ForwardRow[] = [],
): Html {
  const last = events.at(-1);
  const ws = frame.workspaces.length > 1 ? frame.workspace : undefined;
  return html`<h1>Your code</h1>
<p>${target ? html`Messages go to <code>${target}</code>.` : html`This relay hands messages to no code (start it with <code>--forward-to</code> or <code>--exec</code>).`}</p>
<p class="filters">${[undefined, 'pending', 'retrying', 'delivered', 'dropped'].map(
    (s) => html`<a href="/console/events${query({ ws, state: s })}"${s === state ? html` aria-current="page"` : ''}>${s ?? 'all'}</a> `,
  )}</p>
${events.length === 0 ? missing('No deliveries to your code yet.') : ''}
<table><thead><tr><th>event</th><th>message</th><th>state</th><th>attempts</th><th>last answer</th><th>last error</th><th>next attempt</th></tr></thead>
<tbody>${events.map(
    (e) => html`<tr><td><a href="/console/events/${e.id}">${e.id}</a></td><td>${e.interactionId}</td><td><span class="tag state-${e.state}">${e.state}</span></td>
<td>${e.attempts}</td><td>${e.lastStatus ?? ''}</td><td>${e.lastError ?? ''}</td><td>${e.state === 'delivered' || e.state === 'dropped' ? '' : time(e.nextAttemptAt)}</td></tr>`,
  )}</tbody></table>
${events.length === pageSize && last ? html`<p><a href="/console/events${query({ ws, state, before: last.id })}">Older</a></p>` : ''}
${forwards(others, frame)}`;
}

export function event(
  detail: { event: DispatchEvent; payload: unknown },
  target: string | null,
  frame: PageFrame,
): Html {
  const e = detail.event;
  const ws = html`<input type="hidden" name="ws" value="${frame.workspace}">`;
  return html`<h1>Event ${e.id} <span class="tag state-${e.state}">${e.state}</span></h1>
<table class="kv">
<tr><th>message</th><td>${e.interactionId}</td></tr>
<tr><th>attempts</th><td>${e.attempts}</td></tr>
<tr><th>last target</th><td>${e.lastTarget ?? ''}</td></tr>
<tr><th>last answer</th><td>${e.lastStatus ?? ''}${e.lastDurationMs !== null ? ` in ${e.lastDurationMs} ms` : ''}</td></tr>
<tr><th>last error</th><td>${e.lastError ?? ''}</td></tr>
<tr><th>next attempt</th><td>${e.state === 'delivered' || e.state === 'dropped' ? '' : time(e.nextAttemptAt)}</td></tr>
<tr><th>delivered</th><td>${time(e.deliveredAt)}</td></tr>
</table>
<div class="actions">
${postForm(`/console/events/${e.id}/retry`, frame.csrf, html`${ws}<button>Retry now</button>`)}
${e.state === 'delivered' ? '' : postForm(`/console/events/${e.id}/drop`, frame.csrf, html`${ws}<button class="danger">Drop</button>`)}
</div>
<h2>Replay</h2>
${
  detail.payload === null
    ? missing('Its message was purged.')
    : postForm(
        `/console/events/${e.id}/replay`,
        frame.csrf,
        html`${ws}<textarea name="json" rows="18" spellcheck="false" class="code">${JSON.stringify(detail.payload, null, 2)}</textarea>
<button${target ? '' : html` disabled`}>Deliver this JSON now${target ? html` to ${target}` : ''}</button>`,
        'id="replay"',
      )
}`;
}

function quality(template: TemplateRecord): string {
  const raw = template.raw as unknown as Record<string, any>;
  return String(raw.quality_score?.score ?? raw.quality_rating ?? '—');
}

export function templates(lists: Array<{ integration: Integration; templates: TemplateRecord[] }>): Html {
  return html`<h1>Templates</h1>
${lists.length === 0 ? missing('No number is connected.') : ''}
${lists.map(
  ({ integration, templates }) => html`<h2>${integration.label} <span class="dim">${integration.displayPhoneNumber ?? integration.phoneNumberId}</span></h2>
${templates.length === 0 ? missing('No template synced (`lumen templates sync`).') : ''}
<table><thead><tr><th>name</th><th>language</th><th>status</th><th>category</th><th>quality</th><th>parameters each send needs</th><th>synced</th></tr></thead>
<tbody>${templates.map(
    (t) => html`<tr><td>${t.name}</td><td>${t.language}</td><td><span class="tag status-${t.status}">${t.status}</span></td><td>${t.category ?? ''}</td><td>${quality(t)}</td>
<td>${t.requiredParameters.length === 0 ? html`<span class="dim">none</span>` : t.requiredParameters.map((p) => html`<code>${p.component}:${p.name}</code> `)}</td><td>${time(t.syncedAt)}</td></tr>`,
  )}</tbody></table>`,
)}`;
}

function chart(title: string, points: Array<{ label: string; n: number }>): Html {
  const max = Math.max(1, ...points.map((p) => p.n));
  const w = 12;
  const h = 60;
  return html`<figure class="chart"><figcaption>${title} <span class="dim">(per minute, last ${points.length} min; peak ${max})</span></figcaption>
<svg viewBox="0 0 ${points.length * w} ${h}" width="${points.length * w}" height="${h}" role="img" aria-label="${title}">${points.map((p, i) => {
    const bar = Math.round((p.n / max) * (h - 2));
    return html`<rect x="${i * w + 1}" y="${h - bar}" width="${w - 2}" height="${bar}"><title>${p.label}: ${p.n}</title></rect>`;
  })}</svg></figure>`;
}

function since(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  return `${d > 0 ? `${d} d ` : ''}${Math.floor((s % 86400) / 3600)} h ${Math.floor((s % 3600) / 60)} min ${s % 60} s`;
}

export function relay(stats: {
  now: Date;
  startedAt: Date;
  info: { url: string | null; publicUrl: string | null };
  numbers: Integration[];
  queue: { dispatch: number; outbound: number; pendingApproval: number; media: number };
  deliveries: Array<{ minute: number; n: number }>;
  sends: Map<string, number>;
  target: string | null;
}): Html {
  const label = (minute: number) => new Date(minute * 60_000).toISOString().slice(11, 16);
  const sends = stats.deliveries.map(({ minute }) => ({
    label: label(minute),
    n: stats.sends.get(new Date(minute * 60_000).toISOString().slice(0, 16)) ?? 0,
  }));
  return html`<h1>Relay</h1>
<table class="kv">
<tr><th>up for</th><td id="uptime">${since(stats.now.getTime() - stats.startedAt.getTime())} <span class="dim">(since ${time(stats.startedAt.toISOString())})</span></td></tr>
<tr><th>listening on</th><td><code>${stats.info.url ?? ''}</code></td></tr>
<tr><th>public URL</th><td>${stats.info.publicUrl ? html`<code>${stats.info.publicUrl}</code>` : html`<span class="dim">none: local only (--tunnel or --public-url)</span>`}</td></tr>
<tr><th>your code</th><td>${stats.target ? html`<code>${stats.target}</code>` : html`<span class="dim">none</span>`}</td></tr>
<tr><th>queue</th><td id="queue">${stats.queue.dispatch} to your code · ${stats.queue.outbound} to send · ${stats.queue.pendingApproval} awaiting approval · ${stats.queue.media} media to fetch</td></tr>
</table>
<h2>Callback URLs</h2>
<table><thead><tr><th>number</th><th>Callback URL for Meta</th><th>public URL given at connect</th></tr></thead><tbody>${stats.numbers.map((n) => {
    const path = `/webhooks/whatsapp/${n.id}`;
    const callback = stats.info.publicUrl ? `${stats.info.publicUrl}${path}` : null;
    const matches = n.publicUrl && stats.info.publicUrl ? n.publicUrl.replace(/\/+$/, '') === stats.info.publicUrl : null;
    return html`<tr><td>${n.label} <span class="dim">${n.displayPhoneNumber ?? n.phoneNumberId}</span></td><td>${callback ? html`<code>${callback}</code>` : html`<code>${stats.info.url ?? ''}${path}</code> <span class="dim">(local)</span>`}</td>
<td>${n.publicUrl ? html`<code>${n.publicUrl}</code> ${matches === null ? '' : matches ? html`<span class="tag open">matches</span>` : html`<span class="tag failed">differs: paste the new Callback URL into Meta's dashboard</span>`}` : html`<span class="dim">none</span>`}</td></tr>`;
  })}</tbody></table>
<div class="charts">
${chart('Deliveries', stats.deliveries.map((p) => ({ label: label(p.minute), n: p.n })))}
${chart('Sends', sends)}
</div>`;
}

