// warren's web console: a single-page app over the management HTTP API (/api/...).
// No framework, no build step. Every page builds its DOM with h() (text goes in as text, never
// as HTML), loads its data asynchronously (a loading state first, errors inline with the API's
// reason) and may poll every 5 s while it is shown.
'use strict';

const POLL_MS = 5000;
const CREDS_KEY = 'warren.console.auth';
const HISTORY_POINTS = 60;

// ---- DOM helpers -------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}
const $ = (sel) => document.querySelector(sel);
const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// ---- formatting --------------------------------------------------------------------------
const nf = new Intl.NumberFormat('en-US');
function num(n) { return n === undefined || n === null ? '–' : nf.format(n); }
function rate(n) {
  if (n === undefined || n === null) return '–';
  return n >= 100 ? nf.format(Math.round(n)) : (Math.round(n * 10) / 10).toFixed(1);
}
function bytes(n) {
  if (n === undefined || n === null) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + u[i];
}
function duration(ms) {
  const sec = Math.floor(ms / 1000);
  const d = Math.floor(sec / 86400), hr = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60);
  return d ? `${d}d ${hr}h` : hr ? `${hr}h ${m}m` : `${m}m ${sec % 60}s`;
}
function rateOf(stats, key) {
  const d = stats && stats[key + '_details'];
  return d ? d.rate : 0;
}
const enc = encodeURIComponent;
function xname(name) { return name === '' ? 'amq.default' : name; }
function xlabel(name) { return name === '' ? '(AMQP default)' : name; }

// ---- the API -----------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, error, reason) {
    super(reason || error || ('HTTP ' + status));
    this.status = status;
    this.error = error;
    this.reason = reason;
  }
}
function credentials() { return sessionStorage.getItem(CREDS_KEY); }

async function call(method, path, body, opts) {
  // X-Requested-With: a 401 then comes without WWW-Authenticate, so the browser shows no login dialog of its own.
  const headers = { 'Authorization': 'Basic ' + (opts && opts.auth || credentials() || ''), 'X-Requested-With': 'XMLHttpRequest' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  Object.assign(headers, opts && opts.headers || {});
  let res;
  try {
    res = await fetch('api/' + path, {
      method, headers, cache: 'no-store',
      body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'Cannot reach the broker: ' + e.message);
  }
  const text = await res.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch (e) { json = null; }
  }
  if (!res.ok) {
    const reason = json && json.reason !== undefined
      ? (typeof json.reason === 'string' ? json.reason : JSON.stringify(json.reason)) : text || res.statusText;
    const err = new ApiError(res.status, json && json.error, reason);
    // The credentials stopped working (user deleted, password or tags changed): back to the login.
    if (!(opts && opts.auth) && res.status === 401 && (reason === 'Login failed' || reason === 'Not management user')) {
      logout(refusal(err));
    }
    throw err;
  }
  return json;
}
const api = {
  get: (p) => call('GET', p),
  put: (p, b) => call('PUT', p, b === undefined ? {} : b),
  post: (p, b) => call('POST', p, b === undefined ? {} : b),
  del: (p, headers) => call('DELETE', p, undefined, { headers }),
};

/** The message for a failed login or a refused user. */
function refusal(err) {
  if (err.status === 401 && err.reason === 'Not management user') {
    return 'Access refused: this user has none of the tags management, monitoring, policymaker or ' +
      'administrator, so it may not use the management console.';
  }
  if (err.status === 401) return 'Login failed: wrong username or password (' + err.reason + ').';
  if (err.status === 403) return 'Access refused: ' + err.reason;
  return err.message;
}

/** An inline error box with the API's reason. */
function errorBox(err) {
  let text = err instanceof ApiError && err.status
    ? `${err.status} ${err.error || ''}: ${err.reason}` : String(err.message || err);
  if (err instanceof ApiError && err.status === 403) text += ' (this needs a user with more tags)';
  return h('div', { class: 'error', role: 'alert' }, text);
}
function okBox(text) { return h('div', { class: 'ok', role: 'status' }, text); }

// ---- session -----------------------------------------------------------------------------
const session = { user: null, tags: [] };
function isAdmin() { return session.tags.includes('administrator'); }
function canPolicy() { return isAdmin() || session.tags.includes('policymaker'); }
function canSeeAll() { return isAdmin() || session.tags.includes('monitoring'); }

function showLogin(message) {
  stopPage();
  $('#app').hidden = true;
  $('#nav').hidden = true;
  $('#who').hidden = true;
  $('#login').hidden = false;
  const e = $('#login-error');
  e.hidden = !message;
  e.textContent = message || '';
  $('#login-user').focus();
}
function logout(message) {
  sessionStorage.removeItem(CREDS_KEY);
  session.user = null;
  showLogin(message);
}
async function login(auth) {
  const me = await call('GET', 'whoami', undefined, { auth });
  sessionStorage.setItem(CREDS_KEY, auth);
  session.user = me.name;
  session.tags = Array.isArray(me.tags) ? me.tags : String(me.tags || '').split(',').filter(Boolean);
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#nav').hidden = false;
  $('#who').hidden = false;
  $('#who-name').textContent = me.name + (session.tags.length ? ' (' + session.tags.join(', ') + ')' : '');
  $('#nav-admin').hidden = !(isAdmin() || canPolicy());
  route();
}
function b64(str) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(str)));
}

// ---- pages and polling ---------------------------------------------------------------------
let current = null; // { token, timers }
let tokenSeq = 0;
function stopPage() {
  if (current) current.timers.forEach(clearInterval);
  current = null;
}
/** A page's context: alive() is false once another page is shown, so late answers are dropped. */
function newPage() {
  stopPage();
  const page = { token: ++tokenSeq, timers: [] };
  page.alive = () => current && current.token === page.token;
  page.every = (fn) => { fn(); page.timers.push(setInterval(() => { if (page.alive() && !document.hidden) fn(); }, POLL_MS)); };
  current = page;
  return page;
}

/** Loads `load()` into `box`: a loading line first, then render(data) or the error inline. */
async function into(page, box, load, render) {
  if (!box.firstChild) fill(box, h('div', { class: 'loading' }, 'Loading…'));
  try {
    const data = await load();
    if (page.alive()) fill(box, render(data));
  } catch (e) {
    if (page.alive()) fill(box, errorBox(e));
  }
}

function route() {
  if (!credentials()) { showLogin(); return; }
  const parts = (location.hash.replace(/^#\/?/, '') || '').split('/').map(decodeURIComponent);
  const name = parts[0] || 'overview';
  document.querySelectorAll('#nav a').forEach(a => a.classList.toggle('active', a.dataset.page === name));
  const page = newPage();
  const app = $('#app');
  app.replaceChildren();
  const pages = {
    overview: () => overviewPage(page, app),
    connections: () => parts.length > 1 ? connectionPage(page, app, parts.slice(1).join('/')) : connectionsPage(page, app),
    channels: () => channelsPage(page, app),
    exchanges: () => parts.length > 2 ? exchangePage(page, app, parts[1], parts.slice(2).join('/')) : exchangesPage(page, app),
    queues: () => parts.length > 2 ? queuePage(page, app, parts[1], parts.slice(2).join('/')) : queuesPage(page, app),
    admin: () => adminPage(page, app, parts[1] || (isAdmin() ? 'users' : 'policies')),
  };
  (pages[name] || (() => fill(app, h('h1', {}, 'Not found'), h('p', {}, 'No such page: ' + location.hash))))();
}
function link(hash, text) { return h('a', { href: hash }, text); }
function hashOf(...parts) { return '#/' + parts.map(enc).join('/'); }

// ---- charts --------------------------------------------------------------------------------
/** Rate history: samples of {t, values[]} kept in memory while the console is open. */
class History {
  constructor(keys) { this.keys = keys; this.samples = []; }
  add(values) {
    this.samples.push({ t: Date.now(), values });
    if (this.samples.length > HISTORY_POINTS) this.samples.shift();
  }
}
const overviewHistory = new History(['publish', 'deliver_get', 'ack']);

/**
 * A hand-written SVG line chart of a History, with its legend and the latest values, drawn at
 * `width` pixels (the box it goes into) so that its text is never stretched.
 */
function lineChart(history, labels, width) {
  const W = Math.max(320, Math.round(width || 640)), H = 200, L = 46, R = 10, T = 10, B = 22;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': 'message rates' });
  const smp = history.samples;
  let max = 0;
  for (const p of smp) for (const v of p.values) max = Math.max(max, v || 0);
  const top = niceMax(max);
  for (let i = 0; i <= 4; i++) {
    const y = T + (H - T - B) * i / 4;
    svg.append(s('line', { x1: L, x2: W - R, y1: y, y2: y, class: i === 4 ? 'axis' : 'gridline' }));
    svg.append(s('text', { x: L - 6, y: y + 4, 'text-anchor': 'end' }, axisLabel(top * (4 - i) / 4)));
  }
  const span = HISTORY_POINTS * POLL_MS;
  const now = smp.length ? smp[smp.length - 1].t : Date.now();
  const xOf = (t) => L + (W - L - R) * (1 - Math.min(span, now - t) / span);
  const yOf = (v) => T + (H - T - B) * (1 - (v || 0) / top);
  svg.append(s('text', { x: L, y: H - 6 }, `-${Math.round(span / 60000)} min`));
  svg.append(s('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, 'now'));
  history.keys.forEach((k, i) => {
    if (smp.length < 1) return;
    const pts = smp.map(p => `${xOf(p.t).toFixed(1)},${yOf(p.values[i]).toFixed(1)}`);
    if (pts.length === 1) pts.unshift(`${(xOf(smp[0].t) - 2).toFixed(1)},${yOf(smp[0].values[i]).toFixed(1)}`);
    svg.append(s('polyline', { points: pts.join(' '), class: 's' + (i + 1) }));
  });
  const last = smp.length ? smp[smp.length - 1].values : [];
  const legend = h('div', { class: 'legend' }, labels.map((l, i) =>
    h('span', {}, h('i', { class: 's' + (i + 1) }), `${l}: `, h('strong', {}, rate(last[i])), ' /s')));
  if (smp.length < 2) legend.append(h('span', { class: 'muted' }, 'collecting samples every 5 s…'));
  return h('div', { class: 'chart' }, svg, legend);
}
function axisLabel(v) {
  return v >= 100 ? nf.format(Math.round(v)) : String(Math.round(v * 100) / 100);
}
function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function tile(label, value, opts) {
  return h('div', { class: 'tile' + (opts && opts.alarm ? ' alarm' : ''), id: opts && opts.id },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value, opts && opts.unit ? h('span', { class: 'unit' }, opts.unit) : null),
    opts && opts.extra);
}

// ---- overview ------------------------------------------------------------------------------
function overviewPage(page, app) {
  const totals = h('div', {}), chart = h('div', {}), node = h('div', {}), listeners = h('div', {});
  fill(app, h('h1', {}, 'Overview'), totals,
    h('div', { class: 'panel' }, h('h2', {}, 'Message rates'), chart),
    h('div', { class: 'grid two' },
      h('div', { class: 'panel' }, h('h2', {}, 'Node'), node),
      h('div', { class: 'panel' }, h('h2', {}, 'Listeners'), listeners)));
  page.every(() => {
    into(page, totals, () => api.get('overview'), (o) => {
      const ms = o.message_stats || {};
      overviewHistory.add([rateOf(ms, 'publish'), rateOf(ms, 'deliver_get'), rateOf(ms, 'ack')]);
      fill(chart, lineChart(overviewHistory, ['Publish', 'Deliver / get', 'Ack'], chart.clientWidth));
      fill(listeners, listenerTable(o.listeners || []));
      const ot = o.object_totals || {}, qt = o.queue_totals || {};
      return [
        h('div', { class: 'tiles' },
          tile('Messages ready', num(qt.messages_ready), { id: 'stat-ready' }),
          tile('Unacknowledged', num(qt.messages_unacknowledged), { id: 'stat-unacked' }),
          tile('Messages total', num(qt.messages), { id: 'stat-messages' }),
          tile('Publish', rate(rateOf(ms, 'publish')), { unit: '/s', id: 'stat-publish-rate' }),
          tile('Deliver / get', rate(rateOf(ms, 'deliver_get')), { unit: '/s', id: 'stat-deliver-rate' }),
          tile('Ack', rate(rateOf(ms, 'ack')), { unit: '/s', id: 'stat-ack-rate' })),
        h('div', { class: 'tiles' },
          tile('Connections', num(ot.connections), { id: 'stat-connections' }),
          tile('Channels', num(ot.channels), { id: 'stat-channels' }),
          tile('Exchanges', num(ot.exchanges), { id: 'stat-exchanges' }),
          tile('Queues', num(ot.queues), { id: 'stat-queues' }),
          tile('Consumers', num(ot.consumers), { id: 'stat-consumers' })),
        h('p', { class: 'muted' }, `${o.product_name || 'warren'} ${o.product_version || ''} · node ${o.node || ''}`),
      ];
    });
    into(page, node, () => api.get('nodes'), (nodes) => nodes.map(nodeView));
  });
}
function nodeView(n) {
  const memPct = n.mem_limit ? Math.min(100, 100 * n.mem_used / n.mem_limit) : 0;
  const bar = (pct, alarm) => h('div', { class: 'bar' + (alarm ? ' alarm' : '') }, barFill(pct));
  return [
    h('div', { class: 'tiles' },
      tile('Memory', bytes(n.mem_used), { alarm: n.mem_alarm, id: 'stat-memory',
        extra: [h('div', { class: 'muted' }, `limit ${bytes(n.mem_limit)}${n.mem_alarm ? ' · ALARM' : ''}`), bar(memPct, n.mem_alarm)] }),
      tile('Disk free', bytes(n.disk_free), { alarm: n.disk_free_alarm,
        extra: h('div', { class: 'muted' }, `limit ${bytes(n.disk_free_limit)}${n.disk_free_alarm ? ' · ALARM' : ''}`) }),
      tile('Uptime', duration(n.uptime || 0)),
      n.fd_used !== undefined ? tile('File descriptors', num(n.fd_used), { extra: h('div', { class: 'muted' }, 'of ' + num(n.fd_total)) }) : null),
    h('p', { id: 'alarms' }, n.mem_alarm || n.disk_free_alarm
      ? h('span', { class: 'badge bad' }, 'Resource alarm: ' + [n.mem_alarm && 'memory', n.disk_free_alarm && 'disk'].filter(Boolean).join(', ') + ' — publishers are blocked')
      : h('span', { class: 'badge good' }, 'No resource alarms')),
    h('p', { class: 'muted' }, `${n.name} · pid ${n.os_pid} · ${n.processors} processors`),
  ];
}
function barFill(pct) {
  const span = h('span', {});
  span.style.width = pct.toFixed(1) + '%';
  return span;
}
function listenerTable(ls) {
  return table(['Protocol', 'Address', 'Port'], ls.map(l => [l.protocol, l.ip_address, { num: String(l.port) }]));
}

// ---- tables and paged lists --------------------------------------------------------------
/** A table: header labels, rows of cells (text, Node, or {num} for a right-aligned number). */
function table(headers, rows, empty) {
  if (!rows.length) return h('p', { class: 'muted' }, empty || 'Nothing here.');
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map(x => x instanceof Node ? x : h('th', {}, x)))),
    h('tbody', {}, rows.map(r => h('tr', {}, r.map(c =>
      c && typeof c === 'object' && !(c instanceof Node) && 'num' in c
        ? h('td', { class: 'num' }, typeof c.num === 'number' ? num(c.num) : c.num)
        : h('td', {}, c))))));
}

/**
 * A list the server pages, filters and sorts (the API's page, page_size, name, use_regex, sort
 * and sort_reverse), so it stays fast with 10,000+ objects.
 */
function pagedList(page, opts) {
  const state = Object.assign({ page: 1, size: 50, name: '', regex: false, sort: opts.sort || 'name', rev: false, vhost: '' },
    opts.saved || {});
  const box = h('div', {});
  const filter = h('input', { type: 'search', placeholder: 'Filter by name', value: state.name, id: opts.id + '-filter' });
  const regex = h('input', { type: 'checkbox', checked: state.regex });
  const vhostSel = h('select', { id: opts.id + '-vhost' }, h('option', { value: '' }, 'All vhosts'));
  const size = h('select', {}, [20, 50, 100, 500].map(n => h('option', { value: n, selected: n === state.size }, n + ' per page')));
  api.get('vhosts').then(vs => {
    for (const v of vs) vhostSel.append(h('option', { value: v.name, selected: v.name === state.vhost }, v.name));
  }).catch(() => {});
  let debounce;
  const reload = () => { if (opts.saved) Object.assign(opts.saved, state); load(); };
  filter.addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(() => { state.name = filter.value; state.page = 1; reload(); }, 300); });
  regex.addEventListener('change', () => { state.regex = regex.checked; state.page = 1; reload(); });
  vhostSel.addEventListener('change', () => { state.vhost = vhostSel.value; state.page = 1; reload(); });
  size.addEventListener('change', () => { state.size = Number(size.value); state.page = 1; reload(); });
  let seq = 0;
  async function load() {
    const my = ++seq;
    const q = new URLSearchParams({ page: state.page, page_size: state.size, name: state.name, use_regex: state.regex,
      sort: state.sort, sort_reverse: state.rev });
    const base = !state.vhost ? opts.path : opts.vhostPath ? opts.vhostPath(state.vhost) : opts.path + '/' + enc(state.vhost);
    const path = base + '?' + q;
    if (!box.firstChild) fill(box, h('div', { class: 'loading' }, 'Loading…'));
    try {
      const res = await api.get(path);
      if (!page.alive() || my !== seq) return;
      if (res.page_count && state.page > res.page_count) { state.page = res.page_count; return load(); }
      fill(box, render(res));
    } catch (e) {
      if (!page.alive() || my !== seq) return;
      if (e.error === 'page_out_of_range' && state.page > 1) { state.page = 1; return load(); }
      fill(box, errorBox(e));
    }
  }
  function header(col) {
    if (!col.sort) return h('th', { class: col.num ? 'num' : '' }, col.label);
    const sorted = state.sort === col.sort;
    return h('th', { class: ['sortable', col.num ? 'num' : '', sorted ? 'sorted' : '', sorted && state.rev ? 'rev' : ''].join(' '),
      title: 'Sort by ' + col.label,
      onclick: () => { if (sorted) state.rev = !state.rev; else { state.sort = col.sort; state.rev = !!col.num; } reload(); } }, col.label);
  }
  function render(res) {
    const items = res.items || [];
    const pager = h('div', { class: 'pager' },
      h('button', { class: 'secondary small', disabled: res.page <= 1, onclick: () => { state.page--; reload(); } }, '‹ Prev'),
      h('span', { id: opts.id + '-count' }, `Page ${res.page} of ${Math.max(1, res.page_count)} · ${num(res.filtered_count)} matching of ${num(res.total_count)}`),
      h('button', { class: 'secondary small', disabled: res.page >= res.page_count, onclick: () => { state.page++; reload(); } }, 'Next ›'));
    if (!items.length) return [pager, h('p', { class: 'muted' }, state.name ? 'Nothing matches the filter.' : opts.empty)];
    return [pager, h('table', { id: opts.id + '-table' },
      h('thead', {}, h('tr', {}, opts.columns.map(header))),
      h('tbody', {}, items.map(it => h('tr', {}, opts.columns.map(c => h('td', { class: c.num ? 'num' : '' }, c.cell(it)))))))];
  }
  const toolbar = h('div', { class: 'toolbar' }, filter, h('label', { class: 'check' }, regex, 'Regex'), vhostSel, h('span', { class: 'grow' }), size);
  page.every(load);
  return { el: h('div', {}, toolbar, box), reload };
}
const listState = { queues: {}, exchanges: {}, connections: {}, channels: {} };

// ---- connections and channels --------------------------------------------------------------
function clientName(c) {
  const p = c.client_properties || {};
  return [p.product, p.version].filter(Boolean).join(' ');
}
function connectionsPage(page, app) {
  const list = pagedList(page, {
    id: 'connections', path: 'connections', vhostPath: v => `vhosts/${enc(v)}/connections`, saved: listState.connections, empty: 'No connections.',
    columns: [
      { label: 'Name', sort: 'name', cell: c => link(hashOf('connections', c.name), c.name) },
      { label: 'User', sort: 'user', cell: c => c.user },
      { label: 'Vhost', sort: 'vhost', cell: c => c.vhost },
      { label: 'State', sort: 'state', cell: c => c.state },
      { label: 'Client', cell: c => [clientName(c), c.user_provided_name ? h('div', { class: 'muted' }, c.user_provided_name) : null] },
      { label: 'TLS', cell: c => c.ssl ? 'yes' : 'no' },
      { label: 'Channels', sort: 'channels', num: true, cell: c => num(c.channels) },
    ],
  });
  fill(app, h('h1', {}, 'Connections'), h('div', { class: 'panel' }, list.el));
}
function connectionPage(page, app, name) {
  const info = h('div', {}), chans = h('div', {}), actions = h('div', {});
  const reason = h('input', { placeholder: 'Reason (X-Reason)', value: 'Closed via the warren console', size: 32 });
  fill(actions, h('form', { class: 'inline', onsubmit: async (e) => {
    e.preventDefault();
    if (!confirm('Close connection ' + name + '?')) return;
    try {
      await api.del('connections/' + enc(name), { 'X-Reason': reason.value });
      fill(actions, okBox('Connection closed.'));
    } catch (err) { actions.append(errorBox(err)); }
  } }, reason, h('button', { class: 'danger', type: 'submit', id: 'conn-close' }, 'Force close')));
  fill(app, h('h1', {}, 'Connection', h('span', { class: 'sub' }, name)),
    h('div', { class: 'grid two' }, h('div', { class: 'panel' }, h('h2', {}, 'Details'), info),
      h('div', { class: 'panel' }, h('h2', {}, 'Close this connection'), actions)),
    h('div', { class: 'panel' }, h('h2', {}, 'Channels'), chans));
  page.every(() => {
    into(page, info, () => api.get('connections/' + enc(name)), c => kv([
      ['User', c.user], ['Vhost', c.vhost], ['State', c.state], ['Protocol', c.protocol],
      ['Peer', `${c.peer_host}:${c.peer_port}`], ['Local', `${c.host}:${c.port}`], ['TLS', c.ssl ? 'yes' : 'no'],
      ['Auth mechanism', c.auth_mechanism], ['Client', clientName(c)], ['Client-provided name', c.user_provided_name || '–'],
      ['Heartbeat', c.timeout + ' s'], ['Frame max', num(c.frame_max)], ['Channel max', num(c.channel_max)],
      ['Connected at', c.connected_at ? new Date(c.connected_at).toLocaleString() : '–'],
    ]));
    into(page, chans, () => api.get('connections/' + enc(name) + '/channels'), cs => channelTable(cs));
  });
}
function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v === undefined || v === null ? '–' : v)]));
}
function channelMode(c) {
  return [c.confirm ? h('span', { class: 'badge' }, 'confirm') : null, c.transactional ? h('span', { class: 'badge' }, 'tx') : null];
}
function channelTable(cs) {
  return table(['Channel', 'User', 'Vhost', 'Mode', h('th', { class: 'num' }, 'Prefetch'), h('th', { class: 'num' }, 'Consumers'), h('th', { class: 'num' }, 'Unacked')],
    cs.map(c => [c.name, c.user, c.vhost, channelMode(c), { num: c.prefetch_count }, { num: c.consumer_count }, { num: c.messages_unacknowledged }]),
    'No channels.');
}
function channelsPage(page, app) {
  const list = pagedList(page, {
    id: 'channels', path: 'channels', vhostPath: v => `vhosts/${enc(v)}/channels`, saved: listState.channels, empty: 'No channels.',
    columns: [
      { label: 'Channel', sort: 'name', cell: c => link(hashOf('connections', c.connection_details.name), c.name) },
      { label: 'User', sort: 'user', cell: c => c.user },
      { label: 'Vhost', sort: 'vhost', cell: c => c.vhost },
      { label: 'Mode', cell: channelMode },
      { label: 'Prefetch', sort: 'prefetch_count', num: true, cell: c => num(c.prefetch_count) },
      { label: 'Consumers', sort: 'consumer_count', num: true, cell: c => num(c.consumer_count) },
      { label: 'Unacked', sort: 'messages_unacknowledged', num: true, cell: c => num(c.messages_unacknowledged) },
    ],
  });
  fill(app, h('h1', {}, 'Channels'), h('div', { class: 'panel' }, list.el));
}

// ---- forms -----------------------------------------------------------------------------------
/** A form whose submit runs `action` and shows its result (or the API's error) under it. */
function actionForm(attrs, fields, action) {
  const result = h('div', { id: attrs.id ? attrs.id + '-result' : null });
  const form = h('form', Object.assign({}, attrs, { onsubmit: async (e) => {
    e.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    fill(result, h('div', { class: 'loading' }, 'Working…'));
    try {
      const msg = await action();
      fill(result, msg instanceof Node ? msg : okBox(msg || 'Done.'));
    } catch (err) {
      fill(result, err instanceof SyntaxError ? errorBox(new Error('Not valid JSON: ' + err.message)) : errorBox(err));
    } finally { btn.disabled = false; }
  } }), fields);
  return h('div', {}, form, result);
}
function field(label, input) { return h('label', {}, label, input); }
function check(label, input) { return h('label', { class: 'check' }, input, label); }
function jsonOrEmpty(text) { return text.trim() ? JSON.parse(text) : {}; }
function vhostSelect(id) {
  const sel = h('select', { id });
  api.get('vhosts').then(vs => vs.forEach(v => sel.append(h('option', { value: v.name }, v.name))))
    .catch(e => sel.replaceWith(errorBox(e)));
  return sel;
}

// ---- exchanges -----------------------------------------------------------------------------
function features(x) {
  return [x.durable ? h('span', { class: 'badge', title: 'durable' }, 'D') : null,
    x.auto_delete ? h('span', { class: 'badge', title: 'auto-delete' }, 'AD') : null,
    x.internal ? h('span', { class: 'badge', title: 'internal' }, 'I') : null,
    x.exclusive ? h('span', { class: 'badge', title: 'exclusive' }, 'Excl') : null,
    x.arguments && Object.keys(x.arguments).length ? h('span', { class: 'badge', title: JSON.stringify(x.arguments) }, 'Args') : null,
    x.policy ? h('span', { class: 'badge', title: 'policy' }, x.policy) : null];
}
function exchangesPage(page, app) {
  const list = pagedList(page, {
    id: 'exchanges', path: 'exchanges', saved: listState.exchanges, empty: 'No exchanges.',
    columns: [
      { label: 'Vhost', sort: 'vhost', cell: x => x.vhost },
      { label: 'Name', sort: 'name', cell: x => link(hashOf('exchanges', x.vhost, xname(x.name)), xlabel(x.name)) },
      { label: 'Type', sort: 'type', cell: x => x.type },
      { label: 'Features', cell: features },
      { label: 'In /s', sort: 'message_stats.publish_in_details.rate', num: true, cell: x => rate(rateOf(x.message_stats, 'publish_in')) },
      { label: 'Out /s', sort: 'message_stats.publish_out_details.rate', num: true, cell: x => rate(rateOf(x.message_stats, 'publish_out')) },
    ],
  });
  const name = h('input', { id: 'x-decl-name', required: true });
  const type = h('select', { id: 'x-decl-type' }, ['direct', 'fanout', 'topic', 'headers'].map(t => h('option', { value: t }, t)));
  api.get('overview').then(o => {
    const known = new Set([...type.options].map(o2 => o2.value));
    (o.exchange_types || []).forEach(t => { if (!known.has(t.name)) type.append(h('option', { value: t.name }, t.name)); });
  }).catch(() => {});
  const vh = vhostSelect('x-decl-vhost');
  const durable = h('input', { type: 'checkbox', checked: true }), autoDel = h('input', { type: 'checkbox' }), internal = h('input', { type: 'checkbox' });
  const args = h('input', { placeholder: '{"alternate-exchange": "ae"}', size: 30 });
  const form = actionForm({ class: 'inline', id: 'x-decl' },
    [field('Vhost', vh), field('Name', name), field('Type', type), check('Durable', durable), check('Auto-delete', autoDel),
      check('Internal', internal), field('Arguments (JSON)', args), h('button', { type: 'submit', id: 'x-decl-submit' }, 'Add exchange')],
    async () => {
      await api.put(`exchanges/${enc(vh.value)}/${enc(name.value)}`, { type: type.value, durable: durable.checked,
        auto_delete: autoDel.checked, internal: internal.checked, arguments: jsonOrEmpty(args.value) });
      list.reload();
      return `Exchange ${name.value} declared.`;
    });
  fill(app, h('h1', {}, 'Exchanges'), h('div', { class: 'panel' }, list.el),
    h('div', { class: 'panel' }, h('h2', {}, 'Add an exchange'), form));
}
function exchangePage(page, app, vhost, name) {
  const real = name === 'amq.default' ? '' : name;
  const path = `exchanges/${enc(vhost)}/${enc(name)}`;
  const info = h('div', {}), rates = h('div', {}), bindings = h('div', {});
  const history = new History(['publish_in', 'publish_out']);
  const builtin = real === '' || real.startsWith('amq.');

  // publish
  const key = h('input', { id: 'pub-key', size: 24 });
  const mode = h('select', { id: 'pub-mode' }, h('option', { value: '1' }, '1 - non-persistent'), h('option', { value: '2' }, '2 - persistent'));
  const ctype = h('input', { id: 'pub-content-type', placeholder: 'text/plain', size: 14 });
  const headers = h('input', { id: 'pub-headers', placeholder: '{"k": "v"}', size: 24 });
  const payload = h('textarea', { id: 'pub-payload', rows: 4 });
  const encSel = h('select', { id: 'pub-encoding' }, h('option', { value: 'string' }, 'string'), h('option', { value: 'base64' }, 'base64'));
  const publish = actionForm({ class: 'stack', id: 'pub' },
    [h('div', { class: 'inline toolbar' }, field('Routing key', key), field('Delivery mode', mode), field('Content type', ctype), field('Headers (JSON)', headers)),
      field('Payload', payload), h('div', { class: 'toolbar' }, field('Payload encoding', encSel),
        h('button', { type: 'submit', id: 'pub-submit' }, 'Publish message'))],
    async () => {
      const props = { delivery_mode: Number(mode.value) };
      if (ctype.value) props.content_type = ctype.value;
      if (headers.value.trim()) props.headers = JSON.parse(headers.value);
      const r = await api.post(path + '/publish', { routing_key: key.value, properties: props, payload: payload.value,
        payload_encoding: encSel.value });
      return r.routed ? okBox('Message published and routed.')
        : h('div', { class: 'error', role: 'status' }, 'Message published, but not routed to any queue.');
    });

  // bind
  const destType = h('select', {}, h('option', { value: 'q' }, 'To queue'), h('option', { value: 'e' }, 'To exchange'));
  const dest = h('input', { required: true, id: 'bind-dest' }), rkey = h('input', { id: 'bind-key' }), bargs = h('input', { placeholder: '{}', size: 16 });
  const bind = actionForm({ class: 'inline', id: 'bind' }, [field('Destination', destType), field('Name', dest), field('Routing key', rkey),
    field('Arguments (JSON)', bargs), h('button', { type: 'submit' }, 'Bind')], async () => {
    await api.post(`bindings/${enc(vhost)}/e/${enc(real)}/${destType.value}/${enc(dest.value)}`, { routing_key: rkey.value, arguments: jsonOrEmpty(bargs.value) });
    loadBindings();
    return 'Bound.';
  });

  const del = h('div', {});
  if (!builtin) {
    fill(del, h('button', { class: 'danger', id: 'x-delete', onclick: async () => {
      if (!confirm(`Delete exchange ${real}?`)) return;
      try { await api.del(path); location.hash = '#/exchanges'; } catch (e) { del.append(errorBox(e)); }
    } }, 'Delete this exchange'));
  }
  fill(app, h('h1', {}, 'Exchange', h('span', { class: 'sub' }, `${xlabel(real)} in ${vhost}`)),
    h('div', { class: 'grid two' }, h('div', { class: 'panel' }, h('h2', {}, 'Details'), info, del),
      h('div', { class: 'panel' }, h('h2', {}, 'Message rates'), rates)),
    h('div', { class: 'panel' }, h('h2', {}, 'Bindings from this exchange'), bindings, builtin && real === '' ? null : bind),
    h('div', { class: 'panel' }, h('h2', {}, 'Publish a message'), publish));
  function loadBindings() {
    into(page, bindings, () => api.get('bindings/' + enc(vhost)), bs => {
      const mine = bs.filter(b => b.source === real);
      return table(['To', 'Type', 'Routing key', 'Arguments', ''], mine.map(b => [
        b.destination_type === 'queue' ? link(hashOf('queues', vhost, b.destination), b.destination) : link(hashOf('exchanges', vhost, b.destination), b.destination),
        b.destination_type, b.routing_key, JSON.stringify(b.arguments || {}),
        real === '' ? '' : h('button', { class: 'danger small', onclick: () => unbind(b).then(loadBindings, e => bindings.append(errorBox(e))) }, 'Unbind')]),
      real === '' ? 'Every queue is bound to the default exchange by its name.' : 'No bindings.');
    });
  }
  page.every(() => {
    into(page, info, () => api.get(path), x => {
      history.add([rateOf(x.message_stats, 'publish_in'), rateOf(x.message_stats, 'publish_out')]);
      fill(rates, lineChart(history, ['Published in', 'Routed out'], rates.clientWidth));
      return kv([['Type', x.type], ['Features', features(x)], ['Arguments', JSON.stringify(x.arguments || {})],
        ['Policy', x.policy || '–'], x.messages_delayed !== undefined ? ['Messages delayed', num(x.messages_delayed)] : null].filter(Boolean));
    });
  });
  loadBindings();
}
function unbind(b) {
  const kind = b.destination_type === 'queue' ? 'q' : 'e';
  return api.del(`bindings/${enc(b.vhost)}/e/${enc(b.source)}/${kind}/${enc(b.destination)}/${enc(b.properties_key)}`);
}

// ---- queues ----------------------------------------------------------------------------------
function queuesPage(page, app) {
  const list = pagedList(page, {
    id: 'queues', path: 'queues', saved: listState.queues, empty: 'No queues.',
    columns: [
      { label: 'Vhost', sort: 'vhost', cell: q => q.vhost },
      { label: 'Name', sort: 'name', cell: q => link(hashOf('queues', q.vhost, q.name), q.name) },
      { label: 'Type', sort: 'type', cell: q => q.type },
      { label: 'Features', cell: features },
      { label: 'State', sort: 'state', cell: q => q.state },
      { label: 'Consumers', sort: 'consumers', num: true, cell: q => num(q.consumers) },
      { label: 'Ready', sort: 'messages_ready', num: true, cell: q => num(q.messages_ready) },
      { label: 'Unacked', sort: 'messages_unacknowledged', num: true, cell: q => num(q.messages_unacknowledged) },
      { label: 'Total', sort: 'messages', num: true, cell: q => num(q.messages) },
      { label: 'In /s', sort: 'message_stats.publish_details.rate', num: true, cell: q => rate(rateOf(q.message_stats, 'publish')) },
      { label: 'Deliver /s', sort: 'message_stats.deliver_get_details.rate', num: true, cell: q => rate(rateOf(q.message_stats, 'deliver_get')) },
      { label: 'Ack /s', sort: 'message_stats.ack_details.rate', num: true, cell: q => rate(rateOf(q.message_stats, 'ack')) },
    ],
  });
  const vh = vhostSelect('q-decl-vhost');
  const name = h('input', { id: 'q-decl-name', required: true });
  const type = h('select', { id: 'q-decl-type' }, h('option', { value: '' }, 'classic'), h('option', { value: 'quorum' }, 'quorum'));
  const durable = h('input', { type: 'checkbox', checked: true, id: 'q-decl-durable' }), autoDel = h('input', { type: 'checkbox' });
  const args = h('input', { placeholder: '{"x-message-ttl": 60000}', size: 30, id: 'q-decl-args' });
  const form = actionForm({ class: 'inline', id: 'q-decl' },
    [field('Vhost', vh), field('Name', name), field('Type', type), check('Durable', durable), check('Auto-delete', autoDel),
      field('Arguments (JSON)', args), h('button', { type: 'submit', id: 'q-decl-submit' }, 'Add queue')],
    async () => {
      const a = jsonOrEmpty(args.value);
      if (type.value) a['x-queue-type'] = type.value;
      await api.put(`queues/${enc(vh.value)}/${enc(name.value)}`, { durable: durable.checked, auto_delete: autoDel.checked, arguments: a });
      list.reload();
      return h('div', { class: 'ok', role: 'status' }, 'Queue ', link(hashOf('queues', vh.value, name.value), name.value), ' declared.');
    });
  fill(app, h('h1', {}, 'Queues'), h('div', { class: 'panel' }, list.el),
    h('div', { class: 'panel' }, h('h2', {}, 'Add a queue'), form));
}
function queuePage(page, app, vhost, name) {
  const path = `queues/${enc(vhost)}/${enc(name)}`;
  const counts = h('div', {}), info = h('div', {}), rates = h('div', {}), consumers = h('div', {}), bindings = h('div', {});
  const history = new History(['publish', 'deliver_get', 'ack']);

  const count = h('input', { id: 'get-count', type: 'number', min: 1, value: 1, size: 4 });
  const ackmode = h('select', { id: 'get-ackmode' },
    h('option', { value: 'ack_requeue_true' }, 'Nack, requeue (leave in queue)'),
    h('option', { value: 'reject_requeue_true' }, 'Reject, requeue'),
    h('option', { value: 'ack_requeue_false' }, 'Ack, remove from queue'),
    h('option', { value: 'reject_requeue_false' }, 'Reject, drop (dead-letter)'));
  const encoding = h('select', { id: 'get-encoding' }, h('option', { value: 'auto' }, 'Auto string / base64'), h('option', { value: 'base64' }, 'base64'));
  const truncate = h('input', { type: 'number', min: 1, value: 50000, size: 7 });
  const get = actionForm({ class: 'inline', id: 'get' }, [field('Messages', count), field('Ack mode', ackmode), field('Encoding', encoding),
    field('Truncate (bytes)', truncate), h('button', { type: 'submit', id: 'get-submit' }, 'Get messages')], async () => {
    const ms = await api.post(path + '/get', { count: Number(count.value), ackmode: ackmode.value, encoding: encoding.value, truncate: Number(truncate.value) });
    refresh();
    if (!ms.length) return h('p', { class: 'muted', id: 'get-empty' }, 'The queue is empty.');
    return h('div', { id: 'get-messages' }, ms.map((m, i) => h('div', { class: 'message' },
      h('strong', {}, `Message ${i + 1}`), ' ', h('span', { class: 'muted' }, `${m.message_count} more in the queue`),
      kv([['Exchange', xlabel(m.exchange)], ['Routing key', m.routing_key], ['Redelivered', m.redelivered ? 'yes' : 'no'],
        ['Properties', JSON.stringify(m.properties || {})], ['Payload', `${num(m.payload_bytes)} bytes, encoding ${m.payload_encoding}`]]),
      h('pre', { class: 'payload' }, m.payload))));
  });

  const srcX = h('input', { required: true, id: 'qbind-source', value: 'amq.direct' }), rkey = h('input', { id: 'qbind-key', value: name });
  const bargs = h('input', { placeholder: '{}', size: 16 });
  const bind = actionForm({ class: 'inline', id: 'qbind' }, [field('From exchange', srcX), field('Routing key', rkey),
    field('Arguments (JSON)', bargs), h('button', { type: 'submit', id: 'qbind-submit' }, 'Bind')], async () => {
    await api.post(`bindings/${enc(vhost)}/e/${enc(srcX.value)}/q/${enc(name)}`, { routing_key: rkey.value, arguments: jsonOrEmpty(bargs.value) });
    loadBindings();
    return 'Bound.';
  });

  const actions = h('div', { class: 'toolbar' },
    h('button', { class: 'secondary', id: 'q-purge', onclick: async () => {
      if (!confirm(`Purge all ready messages from ${name}?`)) return;
      try { await api.del(path + '/contents'); actionsResult.replaceChildren(okBox('Queue purged.')); refresh(); } catch (e) { actionsResult.replaceChildren(errorBox(e)); }
    } }, 'Purge messages'),
    h('button', { class: 'danger', id: 'q-delete', onclick: async () => {
      if (!confirm(`Delete queue ${name}?`)) return;
      try { await api.del(path); location.hash = '#/queues'; } catch (e) { actionsResult.replaceChildren(errorBox(e)); }
    } }, 'Delete queue'));
  const actionsResult = h('div', { id: 'q-actions-result' });

  fill(app, h('h1', {}, 'Queue', h('span', { class: 'sub' }, `${name} in ${vhost}`)), counts,
    h('div', { class: 'grid two' }, h('div', { class: 'panel' }, h('h2', {}, 'Message rates'), rates),
      h('div', { class: 'panel' }, h('h2', {}, 'Details'), info, actions, actionsResult)),
    h('div', { class: 'panel' }, h('h2', {}, 'Get messages'), get),
    h('div', { class: 'panel' }, h('h2', {}, 'Consumers'), consumers),
    h('div', { class: 'panel' }, h('h2', {}, 'Bindings'), bindings, bind));
  function refresh() {
    into(page, counts, () => api.get(path), q => {
      history.add([rateOf(q.message_stats, 'publish'), rateOf(q.message_stats, 'deliver_get'), rateOf(q.message_stats, 'ack')]);
      fill(rates, lineChart(history, ['Publish', 'Deliver / get', 'Ack'], rates.clientWidth));
      fill(info, kv([['Type', q.type], ['State', q.state], ['Features', features(q)], ['Arguments', JSON.stringify(q.arguments || {})],
        ['Policy', q.policy || '–'], ['Node', q.node]]));
      fill(consumers, table(['Tag', 'Channel', 'Ack required', 'Exclusive', h('th', { class: 'num' }, 'Prefetch'), 'Active'],
        (q.consumer_details || []).map(c => [c.consumer_tag, c.channel_details ? c.channel_details.name : '–', c.ack_required ? 'yes' : 'no',
          c.exclusive ? 'yes' : 'no', { num: c.prefetch_count }, c.active === false ? 'no' : 'yes']), 'No consumers.'));
      return h('div', { class: 'tiles' },
        tile('Ready', num(q.messages_ready), { id: 'q-ready' }),
        tile('Unacknowledged', num(q.messages_unacknowledged), { id: 'q-unacked' }),
        tile('Total', num(q.messages), { id: 'q-total' }),
        tile('Consumers', num(q.consumers), { id: 'q-consumers' }),
        tile('Publish', rate(rateOf(q.message_stats, 'publish')), { unit: '/s' }),
        tile('Deliver / get', rate(rateOf(q.message_stats, 'deliver_get')), { unit: '/s' }));
    });
  }
  function loadBindings() {
    into(page, bindings, () => api.get(path + '/bindings'), bs => table(['From', 'Routing key', 'Arguments', ''], bs.map(b => [
      link(hashOf('exchanges', vhost, xname(b.source)), xlabel(b.source)), b.routing_key, JSON.stringify(b.arguments || {}),
      b.source === '' ? h('span', { class: 'muted' }, 'default binding') :
        h('button', { class: 'danger small', onclick: () => unbind(b).then(loadBindings, e => bindings.append(errorBox(e))) }, 'Unbind')])));
  }
  page.every(refresh);
  loadBindings();
}

// ---- admin -----------------------------------------------------------------------------------
function adminPage(page, app, tab) {
  const tabs = [['users', 'Users', isAdmin()], ['vhosts', 'Virtual hosts', isAdmin()], ['permissions', 'Permissions', isAdmin()],
    ['policies', 'Policies', canPolicy()], ['definitions', 'Definitions', isAdmin()]].filter(t => t[2]);
  const body = h('div', {});
  fill(app, h('h1', {}, 'Admin'), h('div', { class: 'tabs' }, tabs.map(([id, label]) =>
    h('a', { href: '#/admin/' + id, class: id === tab ? 'active' : '', id: 'tab-' + id }, label))), body);
  const pages = { users: usersTab, vhosts: vhostsTab, permissions: permissionsTab, policies: policiesTab, definitions: definitionsTab };
  if (!tabs.some(t => t[0] === tab) || !pages[tab]) {
    fill(body, h('div', { class: 'error' }, 'This part of the console needs the administrator (or, for policies, policymaker) tag.'));
    return;
  }
  pages[tab](page, body);
}
function deleteButton(label, what, action, onDone, box) {
  return h('button', { class: 'danger small', onclick: async () => {
    if (!confirm(`Delete ${what}?`)) return;
    try { await action(); onDone(); } catch (e) { box.prepend(errorBox(e)); }
  } }, label);
}
function usersTab(page, body) {
  const list = h('div', {});
  const load = () => into(page, list, () => api.get('users'), us => table(['Name', 'Tags', 'Hashing', ''], us.map(u => [
    u.name, (Array.isArray(u.tags) ? u.tags : String(u.tags || '').split(',')).filter(Boolean).map(t => h('span', { class: 'badge' }, t)),
    h('span', { class: 'muted' }, u.hashing_algorithm || ''),
    u.name === session.user ? h('span', { class: 'muted' }, 'you') : deleteButton('Delete', 'user ' + u.name, () => api.del('users/' + enc(u.name)), load, list)]), 'No users.'));
  const name = h('input', { required: true, id: 'user-name' }), pass = h('input', { type: 'password', id: 'user-pass' });
  const tags = h('input', { id: 'user-tags', placeholder: 'administrator, management', size: 28 });
  const form = actionForm({ class: 'inline', id: 'user-add' }, [field('Username', name), field('Password', pass),
    field('Tags (comma-separated)', tags), h('button', { type: 'submit' }, 'Add / update user')], async () => {
    const b = { tags: tags.value.split(',').map(t => t.trim()).filter(Boolean).join(',') };
    if (pass.value) b.password = pass.value;
    await api.put('users/' + enc(name.value), b);
    load();
    return `User ${name.value} saved.`;
  });
  fill(body, h('div', { class: 'panel' }, h('h2', {}, 'Users'), list), h('div', { class: 'panel' }, h('h2', {}, 'Add or update a user'), form,
    h('p', { class: 'muted' }, 'A new user gets no permissions: grant them under Permissions.')));
  load();
}
function vhostsTab(page, body) {
  const list = h('div', {});
  const load = () => into(page, list, () => api.get('vhosts'), vs => table(['Name', 'Description', 'Tags', h('th', { class: 'num' }, 'Messages'), ''], vs.map(v => [
    v.name, v.description || '', (Array.isArray(v.tags) ? v.tags : []).map(t => h('span', { class: 'badge' }, t)), { num: v.messages },
    deleteButton('Delete', `vhost ${v.name} and everything in it`, () => api.del('vhosts/' + enc(v.name)), load, list)]), 'No vhosts.'));
  const name = h('input', { required: true, id: 'vhost-name' }), desc = h('input', { size: 30 }), tags = h('input', { placeholder: 'a,b' });
  const form = actionForm({ class: 'inline', id: 'vhost-add' }, [field('Name', name), field('Description', desc), field('Tags', tags),
    h('button', { type: 'submit' }, 'Add virtual host')], async () => {
    await api.put('vhosts/' + enc(name.value), { description: desc.value, tags: tags.value });
    load();
    return `Virtual host ${name.value} saved (you have full permissions in it).`;
  });
  fill(body, h('div', { class: 'panel' }, h('h2', {}, 'Virtual hosts'), list), h('div', { class: 'panel' }, h('h2', {}, 'Add a virtual host'), form));
  load();
}
function permissionsTab(page, body) {
  const list = h('div', {});
  const load = () => into(page, list, () => api.get('permissions'), ps => table(['User', 'Vhost', 'Configure', 'Write', 'Read', ''], ps.map(p => [
    p.user, p.vhost, h('code', {}, p.configure), h('code', {}, p.write), h('code', {}, p.read),
    deleteButton('Clear', `the permissions of ${p.user} in ${p.vhost}`, () => api.del(`permissions/${enc(p.vhost)}/${enc(p.user)}`), load, list)]), 'No permissions.'));
  const user = h('select', { id: 'perm-user' });
  api.get('users').then(us => us.forEach(u => user.append(h('option', { value: u.name }, u.name)))).catch(e => user.replaceWith(errorBox(e)));
  const vh = vhostSelect('perm-vhost');
  const c = h('input', { value: '.*', size: 8 }), w = h('input', { value: '.*', size: 8 }), r = h('input', { value: '.*', size: 8 });
  const form = actionForm({ class: 'inline', id: 'perm-set' }, [field('User', user), field('Vhost', vh), field('Configure regexp', c),
    field('Write regexp', w), field('Read regexp', r), h('button', { type: 'submit' }, 'Set permission')], async () => {
    await api.put(`permissions/${enc(vh.value)}/${enc(user.value)}`, { configure: c.value, write: w.value, read: r.value });
    load();
    return `Permissions of ${user.value} in ${vh.value} set.`;
  });
  fill(body, h('div', { class: 'panel' }, h('h2', {}, 'Permissions'), list), h('div', { class: 'panel' }, h('h2', {}, 'Set permissions'), form));
  load();
}
function policiesTab(page, body) {
  const list = h('div', {});
  const load = () => into(page, list, () => api.get('policies'), ps => table(['Vhost', 'Name', 'Pattern', 'Apply to', 'Definition', h('th', { class: 'num' }, 'Priority'), ''],
    ps.map(p => [p.vhost, p.name, h('code', {}, p.pattern), p['apply-to'], h('code', {}, JSON.stringify(p.definition)), { num: p.priority },
      deleteButton('Delete', `policy ${p.name}`, () => api.del(`policies/${enc(p.vhost)}/${enc(p.name)}`), load, list)]), 'No policies.'));
  const vh = vhostSelect('policy-vhost');
  const name = h('input', { required: true, id: 'policy-name' }), pattern = h('input', { required: true, id: 'policy-pattern', placeholder: '^orders\\.' });
  const applyTo = h('select', {}, ['all', 'queues', 'exchanges'].map(a => h('option', { value: a }, a)));
  const prio = h('input', { type: 'number', value: 0, size: 4 });
  const def = h('textarea', { id: 'policy-definition', placeholder: '{"message-ttl": 60000}', rows: 3 });
  const form = actionForm({ class: 'stack', id: 'policy-add' }, [h('div', { class: 'toolbar' }, field('Vhost', vh), field('Name', name), field('Pattern', pattern),
    field('Apply to', applyTo), field('Priority', prio)), field('Definition (JSON)', def), h('div', {}, h('button', { type: 'submit' }, 'Add / update policy'))], async () => {
    await api.put(`policies/${enc(vh.value)}/${enc(name.value)}`, { pattern: pattern.value, definition: jsonOrEmpty(def.value),
      priority: Number(prio.value), 'apply-to': applyTo.value });
    load();
    return `Policy ${name.value} saved.`;
  });
  fill(body, h('div', { class: 'panel' }, h('h2', {}, 'Policies'), list), h('div', { class: 'panel' }, h('h2', {}, 'Add or update a policy'), form));
  load();
}
function definitionsTab(page, body) {
  const exportResult = h('div', {});
  const exportBtn = h('button', { id: 'defs-export', onclick: async () => {
    fill(exportResult, h('div', { class: 'loading' }, 'Exporting…'));
    try {
      const defs = await api.get('definitions');
      const blob = new Blob([JSON.stringify(defs, null, 2)], { type: 'application/json' });
      const a = h('a', { href: URL.createObjectURL(blob), download: `warren-definitions-${new Date().toISOString().slice(0, 10)}.json` });
      document.body.append(a);
      a.click();
      a.remove();
      fill(exportResult, okBox(`Exported ${(defs.queues || []).length} queues, ${(defs.exchanges || []).length} exchanges, ` +
        `${(defs.bindings || []).length} bindings, ${(defs.users || []).length} users, ${(defs.vhosts || []).length} vhosts, ${(defs.policies || []).length} policies.`));
    } catch (e) { fill(exportResult, errorBox(e)); }
  } }, 'Download definitions (JSON)');
  const file = h('input', { type: 'file', accept: '.json,application/json', id: 'defs-file', required: true });
  const upload = actionForm({ class: 'inline', id: 'defs-import' }, [field('Definitions file', file), h('button', { type: 'submit', id: 'defs-import-submit' }, 'Upload and import')], async () => {
    if (!file.files.length) throw new Error('Choose a file first.');
    const text = await file.files[0].text();
    await call('POST', 'definitions', text);
    return `Imported ${file.files[0].name}.`;
  });
  fill(body, h('div', { class: 'panel' }, h('h2', {}, 'Export'), h('p', { class: 'muted' },
    'Users, vhosts, permissions, policies, exchanges, queues and bindings, in RabbitMQ\'s definitions format (GET /api/definitions).'), exportBtn, exportResult),
  h('div', { class: 'panel' }, h('h2', {}, 'Import'), h('p', { class: 'muted' },
    'A RabbitMQ or warren definitions file (POST /api/definitions): applied whole, or refused whole with the reason.'), upload));
}

// ---- start -----------------------------------------------------------------------------------
document.addEventListener('DOMContentLoaded', () => {
  $('#login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const btn = $('#login-submit');
    btn.disabled = true;
    const err = $('#login-error');
    err.hidden = true;
    try {
      await login(b64($('#login-user').value + ':' + $('#login-pass').value));
    } catch (ex) {
      err.textContent = ex instanceof ApiError ? refusal(ex) : String(ex.message || ex);
      err.hidden = false;
    } finally { btn.disabled = false; }
  });
  $('#logout').addEventListener('click', () => logout());
  window.addEventListener('hashchange', () => { if (credentials() && session.user) route(); });
  const saved = credentials();
  if (saved) login(saved).catch(ex => logout(ex instanceof ApiError ? refusal(ex) : ex.message));
  else showLogin();
});
