// lumen console: the live feed and live threads. Everything from the server is put into the page as text
// (textContent), never as markup, except whole fragments of the console's own server-rendered (escaped) pages.
'use strict';

(function () {
  const view = document.body.dataset.view;

  for (const select of document.querySelectorAll('select[data-autosubmit]')) {
    select.addEventListener('change', () => select.form.submit());
  }

  function stream(onDelivery, onOpen) {
    const state = document.getElementById('live-state');
    const source = new EventSource('/console/stream');
    source.addEventListener('open', () => {
      if (state) state.textContent = 'live';
      if (onOpen) onOpen();
    });
    source.addEventListener('error', () => { if (state) state.textContent = 'reconnecting…'; });
    source.addEventListener('delivery', (event) => onDelivery(JSON.parse(event.data)));
    // The relay skipped rows while this tab was not reading (it keeps at most 1 MiB for it): say so.
    source.addEventListener('skipped', (event) => {
      if (state) state.textContent = 'live · ' + Number(event.data) + ' skipped while this tab was behind: reload to see them';
    });
    return source;
  }

  // Bidirectional embeddings, overrides and isolates are shown as their code, as the server-rendered pages show them:
  // a stranger's text ending in U+202E would run on into what follows it.
  function shown(text) {
    return String(text).replace(/[\u202a-\u202e\u2066-\u2069]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  }

  function cell(text, className) {
    const td = document.createElement('td');
    if (className) td.className = className;
    td.textContent = shown(text);
    return td;
  }

  function matches(record, form) {
    const kind = form.elements.kind.value;
    const number = form.elements.number.value.replace(/[^\dA-Za-z.]/g, '');
    const text = form.elements.text.value.toLowerCase();
    if (kind && record.kind !== kind) return false;
    if (number && !record.numbers.some((n) => n.includes(number))) return false;
    if (text && !record.text.toLowerCase().includes(text) && !record.summary.toLowerCase().includes(text)) return false;
    return true;
  }

  function row(record) {
    const tr = document.createElement('tr');
    tr.dataset.id = String(record.id);
    tr.dataset.kind = record.kind;
    tr.className = 'kind-' + record.kind + ' fresh';
    const at = document.createElement('td');
    const time = document.createElement('time');
    time.dateTime = record.at;
    time.title = record.at;
    time.textContent = record.at.replace('T', ' ').slice(0, 19);
    at.append(time);
    const kind = document.createElement('td');
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = record.kind;
    kind.append(tag);
    const what = document.createElement('td');
    what.className = 'wide';
    const link = document.createElement('a');
    link.href = '/console/deliveries/' + encodeURIComponent(record.id);
    link.textContent = shown(record.summary || '(no summary)');
    what.append(link);
    tr.append(at, kind, cell(record.method), cell(String(record.status)), cell(record.signature), what);
    return tr;
  }

  if (view === 'live' && document.getElementById('feed')) {
    const feed = document.getElementById('feed');
    const form = document.getElementById('feed-filter');
    const pause = document.getElementById('pause');
    const held = [];
    let paused = false;
    const show = (record) => {
      if (!matches(record, form)) return;
      document.getElementById('feed-empty')?.remove();
      feed.prepend(row(record));
      while (feed.rows.length > 500) feed.deleteRow(feed.rows.length - 1);
    };
    pause.addEventListener('click', () => {
      paused = !paused;
      pause.setAttribute('aria-pressed', String(paused));
      pause.textContent = paused ? 'Resume (' + held.length + ')' : 'Pause';
      if (!paused) held.splice(0).forEach(show);
    });
    stream((record) => {
      if (paused) {
        held.push(record);
        pause.textContent = 'Resume (' + held.length + ')';
      } else {
        show(record);
      }
    });
  }

  if (view === 'conversations' && document.getElementById('thread')) {
    let pending = null;
    const refresh = async () => {
      const response = await fetch(location.href, { credentials: 'same-origin' });
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
      for (const id of ['thread', 'window']) {
        const fresh = doc.getElementById(id);
        const current = document.getElementById(id);
        if (fresh && current) current.replaceWith(document.adoptNode(fresh));
      }
      document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
    };
    const soon = () => {
      clearTimeout(pending);
      pending = setTimeout(() => { refresh().catch(() => {}); }, 150);
    };
    // Whatever arrived between rendering this page and the stream opening is caught up on when it opens.
    stream((record) => {
      if (record.kind === 'message' || record.kind === 'status') soon();
    }, soon);
  }
})();
