// hotpush dashboard (`/`) and public advisory page (`/advisory/{id}`).
//
// The pages carry no data. This script reads the JSON API and renders it with
// DOM nodes and textContent only (never markup from data). It re-renders when
// the origin announces a change on /api/v1/events (EventSource): no polling
// timer, no page reload.
(function () {
  'use strict';

  // Every event kind the origin emits (a test checks this against the source).
  const EVENT_KINDS = [
    'push-created', 'package-uploaded', 'push-accepted', 'push-published', 'push-failed', 'push-cancelled', 'push-staged', 'push-approved', 'push-break-glass',
    'publish-started', 'publish-finished', 'repo-published', 'advisory-retired',
    'partner-data', 'partner-committed', 'partner-verified', 'partner-retrying', 'partner-failed',
    'metalink-updated', 'keys-changed', 'repokey-prepared', 'repokey-switched', 'repokey-retired',
  ];
  const EVENTS_SHOWN_MAX = 50;

  const page = document.body.dataset.page;
  const advisoryId = document.body.dataset.advisory || '';

  // ---- small DOM helpers -------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // el('a', {href: '/x', cls: 'y', title: 'z'}, 'text', otherNode)
  function el(tag, attrs) {
    const node = document.createElement(tag);
    const a = attrs || {};
    if (a.cls) node.className = a.cls;
    if (a.href) node.setAttribute('href', a.href);
    if (a.title) node.setAttribute('title', a.title);
    if (a.data) for (const k of Object.keys(a.data)) node.dataset[k] = a.data[k];
    for (let i = 2; i < arguments.length; i++) {
      const c = arguments[i];
      if (c == null) continue;
      node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function setText(node, s) { node.textContent = s == null ? '' : String(s); }

  function cssToken(s) { return String(s || '').toLowerCase().replace(/[^a-z0-9-]/g, ''); }

  function badge(kind, value) {
    return el('span', { cls: kind + ' ' + kind + '-' + cssToken(value) }, value);
  }

  function fmtTime(ms) {
    if (!ms) return '';
    return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }

  function fmtDuration(ms) {
    if (ms == null) return '';
    if (ms < 1000) return ms + ' ms';
    const s = Math.round(ms / 1000);
    if (s < 120) return s + ' s';
    const m = Math.round(s / 60);
    if (m < 120) return m + ' min';
    return Math.round(m / 60) + ' h';
  }

  async function getJSON(url) {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) throw new Error(url + ' answered ' + r.status);
    return r.json();
  }

  async function getText(url) {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) throw new Error(url + ' answered ' + r.status);
    return r.text();
  }

  function showError(err) {
    const box = $('error');
    if (!box) return;
    if (err) { setText(box, String(err.message || err)); box.hidden = false; } else { box.hidden = true; }
  }

  // ---- sortable tables -----------------------------------------------------
  //
  // A row is an array of cells; a cell is a string/number or
  // {text, sort, href, cls, node}. The rows are kept on the table so a click
  // on a header re-sorts without fetching.

  function cellSortValue(c) {
    if (c == null) return '';
    if (typeof c !== 'object') return c;
    return c.sort !== undefined ? c.sort : (c.text || '');
  }

  function cellNode(c) {
    const td = el('td');
    if (c == null) return td;
    if (typeof c !== 'object') { setText(td, c); return td; }
    if (c.cls) td.className = c.cls;
    if (c.node) td.appendChild(c.node);
    else if (c.href) td.appendChild(el('a', { href: c.href }, c.text));
    else setText(td, c.text);
    return td;
  }

  function compare(a, b) {
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  function renderTable(table, rows) {
    table.hotpushRows = rows;
    const col = table.dataset.sortCol;
    const dir = table.dataset.sortDir === 'desc' ? -1 : 1;
    const sorted = rows.slice();
    if (col !== undefined && col !== '') {
      const i = Number(col);
      sorted.sort((x, y) => dir * compare(cellSortValue(x[i]), cellSortValue(y[i])));
    }
    const body = table.tBodies[0];
    clear(body);
    for (const row of sorted) {
      const tr = el('tr');
      for (const c of row) tr.appendChild(cellNode(c));
      body.appendChild(tr);
    }
    for (const th of table.tHead.rows[0].cells) {
      if (th.dataset.col === col) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    }
  }

  document.addEventListener('click', (ev) => {
    const th = ev.target.closest && ev.target.closest('table.sortable th');
    if (!th) return;
    const table = th.closest('table');
    const col = th.dataset.col;
    if (table.dataset.sortCol === col) {
      table.dataset.sortDir = table.dataset.sortDir === 'desc' ? 'asc' : 'desc';
    } else {
      table.dataset.sortCol = col;
      table.dataset.sortDir = 'asc';
    }
    renderTable(table, table.hotpushRows || []);
  });

  // ---- shared pieces -------------------------------------------------------

  // An advisory's state as people read it: retired, live (some push of it is
  // published) or the state of its latest push.
  function advisoryState(adv, pushes) {
    if (adv.state === 'retired') return 'retired';
    const mine = pushes.filter((p) => p.advisory === adv.id);
    if (mine.some((p) => p.state === 'published')) return 'live';
    if (mine.length > 0) return mine[0].state;
    return adv.state;
  }

  function reposOf(adv, status) {
    return status.repos.filter((r) => {
      const release = r.repo.split('/')[1];
      return adv.releases.length === 0 || adv.releases.indexOf(release) >= 0;
    });
  }

  // Where an advisory is reachable: the origin, then every partner, with the
  // revision each serves and how far behind it is.
  function reachability(adv, status) {
    const repos = reposOf(adv, status);
    const names = repos.map((r) => r.repo);
    const revs = repos.map((r) => r.revision || 0);
    const out = [{ host: 'origin', revision: Math.max(0, ...revs), current: true, lag_ms: 0 }];
    const partners = [];
    for (const m of status.mirrors) {
      if (names.indexOf(m.repo) < 0) continue;
      let p = partners.find((x) => x.host === m.name);
      if (!p) { p = { host: m.name, revision: 0, current: true, lag_ms: 0 }; partners.push(p); }
      p.revision = Math.max(p.revision, m.revision);
      p.current = p.current && m.current;
      p.lag_ms = Math.max(p.lag_ms, m.lag_ms || 0);
    }
    return out.concat(partners);
  }

  function reachNode(adv, state, status) {
    if (state !== 'live') return el('span', { cls: 'muted' }, state === 'retired' ? 'retired' : 'not yet');
    const ul = el('ul', { cls: 'plain' });
    for (const h of reachability(adv, status)) {
      const label = h.host + ' r' + h.revision + (h.current ? ' \u2713' : ', lag ' + fmtDuration(h.lag_ms));
      ul.appendChild(el('li', { cls: h.current ? '' : 'pending' }, label));
    }
    return ul;
  }

  function renderPush(push, checklist) {
    const box = $('push');
    clear(box);
    const list = $('checklist');
    clear(list);
    if (!push) { box.className = 'muted'; setText(box, 'No push yet.'); return; }
    box.className = '';
    box.dataset.pushId = String(push.id);
    box.dataset.state = push.state;
    box.appendChild(el('p', null,
      'Push ' + push.id + ' of ',
      el('a', { href: '/advisory/' + encodeURIComponent(push.advisory) }, push.advisory),
      ' by ' + push.created_by + ', opened ' + fmtTime(push.created_at_ms) + ': ',
      badge('state', push.state)));
    if (push.error) box.appendChild(el('p', { cls: 'error' }, push.error));
    if (push.packages.length > 0) {
      const ul = el('ul', { cls: 'plain mono packages' });
      for (const p of push.packages) {
        ul.appendChild(el('li', { title: 'sha256 ' + p.sha256 }, p.nevra + (p.signed_by ? '  (signed ' + p.signed_by.slice(-16) + ')' : '')));
      }
      box.appendChild(ul);
    }
    if (!checklist) return;
    for (const s of checklist.steps) {
      list.appendChild(el('li', { data: { key: s.key, state: s.state } },
        badge('state', s.state), ' ', s.title,
        s.at_ms ? el('span', { cls: 'when' }, fmtTime(s.at_ms)) : null,
        s.detail ? el('span', { cls: 'detail' }, s.detail) : null));
    }
  }

  // ---- the dashboard -------------------------------------------------------

  async function renderDashboard() {
    const [status, pushes, activity, hooks] = await Promise.all([
      getJSON('/api/v1/status'), getJSON('/api/v1/pushes'), getJSON('/api/v1/activity'),
      getJSON('/api/v1/webhooks/summary'),
    ]);
    const latest = pushes[0] || null;
    const checklist = latest ? await getJSON('/api/v1/pushes/' + latest.id + '/checklist') : null;

    setText($('origin'), status.public_url + ' \u00b7 queue ' + status.queue_depth +
      (status.key_fingerprint ? ' \u00b7 key \u2026' + status.key_fingerprint.slice(-16) : ''));

    const adv = status.advisories.map((a) => {
      const state = advisoryState(a, pushes);
      return [
        { text: a.id, href: '/advisory/' + encodeURIComponent(a.id), cls: 'mono' },
        { node: badge('sev', a.severity), sort: ['critical', 'important', 'moderate', 'low'].indexOf(a.severity) },
        { node: badge('state', state), sort: state },
        { text: a.cves.join(' '), cls: 'mono' },
        { text: a.packages.join(' '), cls: 'mono', sort: a.packages.length },
        { node: reachNode(a, state, status), sort: state },
        { text: fmtTime(a.updated * 1000), sort: a.updated },
      ];
    });
    const advTable = $('advisories');
    if (advTable.dataset.sortCol === undefined) { advTable.dataset.sortCol = '6'; advTable.dataset.sortDir = 'desc'; }
    renderTable(advTable, adv);
    $('advisories-empty').hidden = adv.length > 0;

    renderPush(latest, checklist);

    renderTable($('repos'), status.repos.map((r) => [
      { text: r.repo, href: r.baseurl, cls: 'mono' },
      { text: r.revision == null ? '\u2014' : 'r' + r.revision, sort: r.revision || 0 },
      r.packages,
      { text: fmtTime(r.published_at_ms), sort: r.published_at_ms || 0 },
      { text: 'metalink', href: r.metalink },
    ]));

    const hosts = status.repos.map((r) => [
      'origin', { text: r.repo, cls: 'mono' },
      { text: r.revision == null ? '\u2014' : 'r' + r.revision, sort: r.revision || 0 },
      { text: 'none', sort: 0 }, { node: badge('state', 'live'), sort: 'live' }, '',
    ]);
    for (const m of status.mirrors) {
      const state = m.current ? 'current' : (m.verified ? 'behind' : 'unverified');
      hosts.push([
        { text: m.name, href: m.public_url }, { text: m.repo, cls: 'mono' },
        { text: 'r' + m.revision, sort: m.revision },
        { text: m.current ? 'none' : fmtDuration(m.lag_ms), sort: m.lag_ms || 0 },
        { node: el('span', { cls: m.current ? 'badge ok' : 'badge pending', title: fmtTime(m.verified_at_ms) }, state), sort: state },
        // The same words `hotpush push` prints: stage, retries, error, hint.
        { text: partnerProblem(m), cls: m.last_error ? 'bad' : '' },
      ]);
    }
    renderTable($('hosts'), hosts);

    // Outbound webhooks: public counts only (the log itself needs a token).
    $('webhooks-section').hidden = hooks.webhooks.length === 0;
    renderTable($('webhooks'), hooks.webhooks.map((w) => [
      { text: '#' + w.number, sort: w.number },
      { text: String(w.delivered), sort: w.delivered },
      { text: String(w.pending), sort: w.pending, cls: w.pending ? 'pending' : '' },
      { text: String(w.given_up), sort: w.given_up, cls: w.given_up ? 'bad' : '' },
      { text: w.last_delivered_at_ms == null ? '\u2014' : fmtTime(w.last_delivered_at_ms), sort: w.last_delivered_at_ms || 0 },
    ]));

    const act = $('activity');
    if (act.dataset.sortCol === undefined) { act.dataset.sortCol = '0'; act.dataset.sortDir = 'desc'; }
    renderTable(act, activity.map((j) => [
      { text: String(j.id), sort: j.id },
      j.kind + (j.push_id ? ' (push ' + j.push_id + ')' : ''),
      { node: badge('state', j.state), sort: j.state },
      j.reason,
      { text: fmtTime(j.started_at_ms || j.created_at_ms), sort: j.started_at_ms || j.created_at_ms },
      { text: fmtDuration(j.duration_ms), sort: j.duration_ms == null ? -1 : j.duration_ms },
      { text: j.error || '', cls: j.error ? 'bad' : '' },
    ]));
  }

  function partnerProblem(m) {
    if (m.current || !m.last_error) return m.last_error || '';
    const parts = [];
    if (m.stage) parts.push('stage ' + m.stage);
    if (m.retries) parts.push(m.retries + (m.retries === 1 ? ' retry' : ' retries'));
    parts.push(m.last_error);
    if (m.hint) parts.push('hint: ' + m.hint);
    return parts.join(' \u00b7 ');
  }

  // ---- the advisory page ---------------------------------------------------

  async function renderAdvisory() {
    const id = encodeURIComponent(advisoryId);
    const [adv, status, pushes, announcement] = await Promise.all([
      getJSON('/api/v1/advisories/' + id), getJSON('/api/v1/status'),
      getJSON('/api/v1/pushes'), getText('/api/v1/advisories/' + id + '/announcement'),
    ]);
    const mine = pushes.filter((p) => p.advisory === adv.id);
    const latest = mine[0] || null;
    const checklist = latest ? await getJSON('/api/v1/pushes/' + latest.id + '/checklist') : null;
    const state = advisoryState(adv, pushes);

    document.title = adv.id + ': ' + adv.summary;
    setText($('advisory-id'), adv.id);
    const sev = $('advisory-severity');
    sev.className = 'sev sev-' + cssToken(adv.severity);
    setText(sev, adv.severity);
    const st = $('advisory-state');
    st.className = 'state state-' + cssToken(state);
    setText(st, state);
    setText($('advisory-summary'), adv.summary);
    setText($('advisory-description'), adv.description);
    setText($('advisory-issued'), fmtTime(adv.issued * 1000));
    setText($('advisory-releases'), adv.releases.length ? adv.releases.join(', ') : 'all');
    const cves = $('advisory-cves');
    clear(cves);
    for (const c of adv.cves) {
      cves.appendChild(el('li', null, el('a', { href: 'https://www.cve.org/CVERecord?id=' + encodeURIComponent(c) }, c)));
    }
    if (adv.cves.length === 0) cves.appendChild(el('li', { cls: 'muted' }, 'none assigned'));
    const pkgs = $('advisory-packages');
    clear(pkgs);
    for (const p of adv.packages) pkgs.appendChild(el('li', null, p));
    if (adv.packages.length === 0) pkgs.appendChild(el('li', { cls: 'muted' }, 'none yet'));
    setText($('advisory-command'), 'dnf upgrade --refresh --advisory=' + adv.id);

    const names = reposOf(adv, status).map((r) => r.repo);
    const rows = reposOf(adv, status).map((r) => [
      'origin', { text: r.repo, cls: 'mono' },
      { text: r.revision == null ? '\u2014' : 'r' + r.revision, sort: r.revision || 0 },
      { text: 'none', sort: 0 },
      { node: badge('state', state === 'live' ? 'live' : state), sort: state },
    ]);
    for (const m of status.mirrors) {
      if (names.indexOf(m.repo) < 0) continue;
      const holds = state === 'live' && m.current;
      rows.push([
        { text: m.name, href: m.public_url }, { text: m.repo, cls: 'mono' },
        { text: 'r' + m.revision, sort: m.revision },
        { text: m.current ? 'none' : fmtDuration(m.lag_ms), sort: m.lag_ms || 0 },
        { node: el('span', { cls: holds ? 'badge ok' : 'badge pending' }, holds ? 'yes' : 'not yet'), sort: holds ? 1 : 0 },
      ]);
    }
    renderTable($('reach'), rows);
    renderPush(latest, checklist);
    setText($('announcement'), announcement);
  }

  // ---- live updates --------------------------------------------------------

  const render = page === 'advisory' ? renderAdvisory : renderDashboard;
  let inflight = false;
  let again = false;

  // Re-renders now; events that arrive meanwhile cause exactly one more pass.
  async function refresh() {
    if (inflight) { again = true; return; }
    inflight = true;
    try {
      do {
        again = false;
        try { await render(); showError(null); } catch (e) { showError(e); }
      } while (again);
    } finally {
      inflight = false;
    }
  }

  function setLive(state, label) {
    const b = $('live');
    b.className = 'badge ' + state;
    setText(b, label);
  }

  function onEvent(ev) {
    let data = null;
    try { data = JSON.parse(ev.data); } catch (e) { data = null; }
    const list = $('events');
    if (list && data) {
      list.insertBefore(el('li', { title: data.kind }, fmtTime(data.at_ms) + '  ' + data.message), list.firstChild);
      while (list.children.length > EVENTS_SHOWN_MAX) list.removeChild(list.lastChild);
    }
    // Another advisory's push does not change this page; repository and
    // partner events carry no advisory and may.
    if (page === 'advisory' && data && data.advisory && data.advisory !== advisoryId) return;
    refresh();
  }

  refresh();
  if (typeof EventSource === 'function') {
    const es = new EventSource('/api/v1/events');
    // A (re)connection may have missed events: render again.
    es.onopen = () => { setLive('live', 'live'); refresh(); };
    es.onerror = () => { setLive('down', 'reconnecting'); };
    es.onmessage = onEvent;
    for (const kind of EVENT_KINDS) es.addEventListener(kind, onEvent);
  } else {
    setLive('down', 'no live updates in this browser');
  }
})();
