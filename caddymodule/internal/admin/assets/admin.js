// widgetgate operator page: passports (connect, reconnect, disconnect,
// delete), widget packages (upload, delete, the refused ones), the
// bindings of widget instances and their configuration (a form per
// configurable widget, built from its schema's fields). Served by the
// widgetgate_admin handler together with admin.html and admin.css; no
// build step, no dependencies, no inline script (the page's CSP forbids
// them). Everything shown comes from the admin JSON API under <base>/api/
// and is written with textContent, never as HTML.
(function () {
  'use strict';

  // The page is <base>/ (or <base>/index.html); the API is <base>/api/…
  var BASE = location.pathname.slice(0, location.pathname.lastIndexOf('/') + 1);
  var TOKEN_KEY = 'widgetgate-admin-token:' + BASE;
  var ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
  // Widget ids become file names in the widgets directory.
  var WIDGET_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
  // Passports are read again this often while the page is visible, so that
  // one the provider stopped accepting shows up (the reconnect banner).
  var POLL_MS = 60000;
  var POPUP_NAME = 'widgetgate-connect';
  var POPUP_FEATURES = 'width=520,height=680';

  var STATUS = {
    inactive: { label: 'Inactive', cls: 'badge-inactive' },
    active: { label: 'Active', cls: 'badge-active' },
    reconnect_required: { label: 'Reconnect required', cls: 'badge-warn' },
  };

  var state = {
    providers: [], // from api/providers
    passports: [], // from api/passports
    widgets: [], // from api/widgets
    problems: [], // from api/widgets: packages on disk refused by the last reload
    ready: '', // passport id an upload created or found: highlighted "ready to connect"
    instances: new Map(), // instance id -> { saved: {authKey: passportId}, draft: {authKey: passportId}, isNew }
    busy: new Set(), // passport ids (or "bundled:<provider>") with an action under way
    configs: new Map(), // configKey(instance, widget) -> configuration form state (see configState)
    connect: null, // { popup, passport, provider, done, timer }
  };

  // ---- small helpers -------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  // h('tag', {attr: value, dataset: {...}, text: '...'}, child, …)
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'text') el.textContent = v;
        else if (k === 'className') el.className = v;
        else if (k === 'dataset') Object.keys(v).forEach(function (d) { if (v[d] !== undefined && v[d] !== null) el.dataset[d] = v[d]; });
        else if (v === true) el.setAttribute(k, '');
        else el.setAttribute(k, String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === undefined || c === null || c === false) continue;
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }

  function show(el, on) { el.hidden = !on; }

  function setError(el, msg) {
    el.textContent = msg || '';
    show(el, !!msg);
  }

  var noticeTimer = null;
  // notice shows a message above the page: kind is ok, error or info.
  function notice(kind, msg) {
    var box = $('notice');
    clearTimeout(noticeTimer);
    if (!msg) {
      show(box, false);
      return;
    }
    box.dataset.kind = kind;
    box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    $('notice-text').textContent = msg;
    show(box, true);
    if (kind === 'ok') noticeTimer = setTimeout(function () { show(box, false); }, 15000);
  }

  function providerOf(name) {
    for (var i = 0; i < state.providers.length; i++) if (state.providers[i].name === name) return state.providers[i];
    return null;
  }

  function passportOf(id) {
    for (var i = 0; i < state.passports.length; i++) if (state.passports[i].id === id) return state.passports[i];
    return null;
  }

  function widgetOf(id) {
    for (var i = 0; i < state.widgets.length; i++) if (state.widgets[i].id === id) return state.widgets[i];
    return null;
  }

  function byName(a, b) {
    return (a.displayName || a.id).localeCompare(b.displayName || b.id) || a.id.localeCompare(b.id);
  }

  function providerLabel(name) {
    var p = providerOf(name);
    return p && p.displayName ? p.displayName : name;
  }

  function passportLabel(p) {
    var who = p.status !== 'inactive' && p.account && (p.account.email || p.account.name);
    return (p.displayName || p.id) + (who ? ' — ' + who : '') + (p.status !== 'active' ? ' (' + statusOf(p.status).label.toLowerCase() + ')' : '');
  }

  function statusOf(s) { return STATUS[s] || { label: s || 'Unknown', cls: 'badge-inactive' }; }

  function formatTime(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }

  function relative(iso) {
    var d = new Date(iso);
    if (!iso || isNaN(d.getTime())) return '';
    var ms = d.getTime() - Date.now();
    var abs = Math.round(Math.abs(ms) / 60000);
    if (abs < 1) return ms >= 0 ? 'in less than a minute' : 'just now';
    var span = abs < 90 ? abs + ' min' : abs < 36 * 60 ? Math.round(abs / 60) + ' h' : Math.round(abs / 1440) + ' days';
    return ms >= 0 ? 'in ' + span : span + ' ago';
  }

  // ---- API -----------------------------------------------------------------

  // errors: a refused input's problems, [{file, field, message}] as strings.
  function ApiError(status, code, message, errors) {
    this.status = status;
    this.code = code;
    this.message = message;
    this.errors = errors || [];
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.name = 'ApiError';

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  // problemErrors keeps the well-formed entries of a problem's errors.
  function problemErrors(data) {
    if (!data || !Array.isArray(data.errors)) return [];
    return data.errors.filter(function (e) { return e && typeof e === 'object'; }).map(function (e) {
      var str = function (v) { return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v); };
      return { file: str(e.file), field: str(e.field), message: str(e.message) };
    });
  }

  // api calls the admin API. body is sent as JSON, or as it is (a File)
  // when contentType is given.
  function api(method, path, body, contentType) {
    var headers = { Accept: 'application/json' };
    var tok = token();
    if (tok) headers.Authorization = 'Bearer ' + tok;
    var init = { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined && contentType) {
      headers['Content-Type'] = contentType;
      init.body = body;
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(BASE + 'api/' + path, init).then(function (res) {
      if (res.status === 204) return null;
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.ok) return data;
        var code = (data && typeof data.code === 'string' && data.code) || 'http_' + res.status;
        var msg = (data && typeof data.message === 'string' && data.message) || res.statusText || 'request failed';
        throw new ApiError(res.status, code, msg, problemErrors(data));
      });
    }, function (err) {
      throw new ApiError(0, 'network', 'widgetgate cannot be reached (' + err.message + ').');
    });
  }

  // explain turns an API failure into a sentence for the administrator,
  // and sends them to the token form when the token is missing or wrong.
  function explain(err, what) {
    if (err && err.status === 401) {
      needToken(token() ? 'The admin token was not accepted. Enter it again.' : '');
      return '';
    }
    if (err && err.code === 'cross_origin_request') {
      // The page itself was opened at another address than the handler's
      // public_url (another host name or port), so its changes are refused
      // as cross-site: say where to open it instead of a bare refusal.
      var refused = 'widgetgate refused the change because this page is open at ' + location.origin +
        ', which is not the admin handler\'s public_url. Open the page at its public_url.';
      return what ? what + ': ' + refused : refused;
    }
    var msg = err && err.message ? err.message : String(err);
    msg = msg.charAt(0).toUpperCase() + msg.slice(1);
    if (!/[.!?]$/.test(msg)) msg += '.';
    return what ? what + ': ' + msg : msg;
  }

  function fail(err, what) {
    var msg = explain(err, what);
    if (msg) notice('error', msg);
  }

  // ---- sign-in -------------------------------------------------------------

  function needToken(message) {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage disabled */ }
    closeConnect();
    document.body.dataset.state = 'login';
    show($('loading'), false);
    show($('app'), false);
    show($('reload'), false);
    show($('forget-token'), false);
    show($('reconnect-banner'), false);
    notice('', '');
    show($('login'), true);
    setError($('login-error'), message);
    $('token-input').value = '';
    $('token-input').focus();
  }

  function onLogin(ev) {
    ev.preventDefault();
    var tok = $('token-input').value.trim();
    if (!tok) return;
    try {
      sessionStorage.setItem(TOKEN_KEY, tok);
    } catch (e) {
      setError($('login-error'), 'This browser does not allow session storage for this page; the token cannot be kept.');
      return;
    }
    $('login-submit').disabled = true;
    loadAll().finally(function () { $('login-submit').disabled = false; });
  }

  // ---- loading -------------------------------------------------------------

  function loadAll() {
    document.body.dataset.state = 'loading';
    // One request first: without a valid token only it is refused.
    return api('GET', 'providers').then(function (pr) {
      state.providers = (pr && pr.providers) || [];
      return Promise.all([api('GET', 'passports'), api('GET', 'widgets'), api('GET', 'bindings')]);
    }).then(function (all) {
      state.passports = (all[0] && all[0].passports) || [];
      setWidgets(all[1]);
      var fresh = new Map();
      ((all[2] && all[2].instances) || []).forEach(function (inst) {
        var old = state.instances.get(inst.instance);
        fresh.set(inst.instance, { saved: inst.bindings || {}, draft: old ? old.draft : {}, isNew: false });
      });
      state.instances.forEach(function (v, k) { if (v.isNew && !fresh.has(k)) fresh.set(k, v); });
      state.instances = fresh;
      show($('login'), false);
      show($('loading'), false);
      show($('app'), true);
      show($('reload'), true);
      show($('forget-token'), !!token());
      renderAll();
      document.body.dataset.state = 'ready';
      // Open configuration forms read their instance again; what the
      // administrator typed and did not save stays.
      state.configs.forEach(function (cs) { if (cs.open) loadConfig(cs); });
    }).catch(function (err) {
      if (err && err.status === 401) {
        needToken(token() ? 'That token was not accepted.' : '');
        return;
      }
      show($('loading'), false);
      document.body.dataset.state = 'error';
      fail(err, 'Could not load the passports');
    });
  }

  function reloadPassports() {
    return api('GET', 'passports').then(function (r) {
      state.passports = (r && r.passports) || [];
      renderPassports();
      renderBindings();
    });
  }

  // reloadCatalog reads again what an upload or a delete changes: the
  // providers (a bundled passport brings one), the widgets, the passports.
  function reloadCatalog() {
    return Promise.all([api('GET', 'providers'), api('GET', 'widgets'), api('GET', 'passports')]).then(function (all) {
      state.providers = (all[0] && all[0].providers) || [];
      setWidgets(all[1]);
      state.passports = (all[2] && all[2].passports) || [];
      renderAll();
    });
  }

  function setWidgets(r) {
    state.widgets = (r && Array.isArray(r.widgets) ? r.widgets : []).filter(function (w) { return w && typeof w.id === 'string'; });
    state.problems = (r && Array.isArray(r.problems) ? r.problems : []).filter(function (p) { return p && typeof p.widget === 'string'; });
  }

  // poll reads the passports again in the background (see POLL_MS); it
  // redraws only when something changed, and never while the
  // administrator is in the middle of an action.
  function poll() {
    if (document.hidden || document.body.dataset.state !== 'ready' || state.busy.size > 0) return;
    if (state.connect && !state.connect.done) return;
    var before = JSON.stringify(state.passports);
    api('GET', 'passports').then(function (r) {
      var list = (r && r.passports) || [];
      if (JSON.stringify(list) === before || document.body.dataset.state !== 'ready') return;
      state.passports = list;
      renderPassports();
      // Not under the administrator's hands: an open dropdown would close.
      if (!$('instances').contains(document.activeElement)) renderBindings();
    }, function (err) {
      if (err && err.status === 401) needToken(token() ? 'The admin token was not accepted. Enter it again.' : '');
      // Anything else: the next poll, or Reload, tries again.
    });
  }

  function upsertPassport(p) {
    for (var i = 0; i < state.passports.length; i++) {
      if (state.passports[i].id === p.id) {
        state.passports[i] = p;
        return;
      }
    }
    state.passports.push(p);
  }

  // ---- passports -----------------------------------------------------------

  function renderAll() {
    renderProviderSelect();
    renderPassports();
    renderWidgets();
    renderBindings();
  }

  function renderProviderSelect() {
    var sel = $('add-provider');
    var keep = sel.value;
    sel.textContent = '';
    sel.appendChild(h('option', { value: '', text: 'Choose a provider…' }));
    var groups = [
      { label: 'Bundled with widget packages', items: state.providers.filter(function (p) { return p.custom; }) },
      { label: 'Built-in', items: state.providers.filter(function (p) { return !p.custom; }) },
    ];
    groups.forEach(function (g) {
      if (!g.items.length) return;
      var og = h('optgroup', { label: g.label });
      g.items.forEach(function (p) {
        var text = (p.displayName || p.name) + ' (' + p.name + ')' + (p.credentialsConfigured ? '' : ' — client credentials missing');
        og.appendChild(h('option', { value: p.name, text: text }));
      });
      sel.appendChild(og);
    });
    if (keep && providerOf(keep)) sel.value = keep;
    onProviderPicked();
  }

  function onProviderPicked() {
    var p = providerOf($('add-provider').value);
    var hint = '';
    if (p && !p.credentialsConfigured) {
      hint = 'The client ID and secret of ' + (p.displayName || p.name) + ' are not configured, so connecting will fail until they are stored in Vault (' + 'providers/' + p.name + ').';
    } else if (p && p.kind === 'appspace') {
      hint = 'Appspace passports are connected with a subject ID and a refresh token, not with a pop-up.';
    }
    setError($('add-hint'), hint);
    $('add-name').placeholder = p ? p.displayName || p.name : 'e.g. Lobby calendar';
  }

  // Rows: the passports, then a "not yet created" row for each bundled
  // provider that has no passport, so it can be connected in one click.
  function renderPassports() {
    var body = $('passport-rows');
    body.textContent = '';
    var sorted = state.passports.slice().sort(byName);
    // The passport an upload brought stays highlighted until it is
    // connected, or its package is gone.
    var ready = state.ready && passportOf(state.ready);
    if (!ready || ready.status === 'active' || !providerOf(ready.provider)) state.ready = '';
    sorted.forEach(function (p) { body.appendChild(passportRow(p)); });
    var bundled = state.providers.filter(function (pr) {
      return pr.custom && !state.passports.some(function (p) { return p.provider === pr.name; });
    });
    bundled.forEach(function (pr) { body.appendChild(bundledRow(pr)); });
    show($('no-passports'), sorted.length === 0 && bundled.length === 0);
    renderBanner();
  }

  // renderBanner says, above everything, which passports the provider
  // stopped accepting: their widgets get no data until they are reconnected.
  function renderBanner() {
    var need = state.passports.filter(function (p) { return p.status === 'reconnect_required'; }).sort(byName);
    var box = $('reconnect-banner');
    if (!need.length) {
      $('reconnect-text').textContent = '';
      show(box, false);
      return;
    }
    var names = need.map(function (p) { return p.displayName || p.id; });
    $('reconnect-text').textContent = need.length + (need.length === 1 ? ' passport needs' : ' passports need') +
      ' reconnecting: ' + names.join(', ');
    box.dataset.count = String(need.length);
    show(box, true);
  }

  function button(action, label, opts) {
    opts = opts || {};
    return h('button', {
      type: 'button',
      className: 'btn btn-small' + (opts.cls ? ' ' + opts.cls : ''),
      dataset: { action: action, passport: opts.passport, provider: opts.provider, widget: opts.widget },
      disabled: !!opts.disabled,
      title: opts.title,
      text: label,
    });
  }

  function badge(status) {
    var s = statusOf(status);
    return h('span', { className: 'badge ' + s.cls, dataset: { field: 'status', status: status }, text: s.label });
  }

  function providerCell(name) {
    var pr = providerOf(name);
    return h('td', { dataset: { label: 'Provider' } },
      h('div', { className: 'strong', text: providerLabel(name) }),
      h('div', { className: 'sub mono', text: name }),
      pr && pr.custom ? h('span', { className: 'tag', title: bundledBy(name) + (pr.source ? ' (' + pr.source + ')' : ''), text: 'bundled' }) : null,
      pr && !pr.credentialsConfigured ? h('span', { className: 'tag tag-warn', title: 'The client ID and secret are not configured', text: 'no client credentials' }) : null,
      !pr ? h('span', { className: 'tag tag-warn', text: 'unknown provider' }) : null);
  }

  function passportRow(p) {
    var status = p.status || 'inactive';
    var busy = state.busy.has(p.id);
    var account = p.account || {};
    var connected = status !== 'inactive';
    var accountCell = h('td', { dataset: { label: 'Account' } });
    if (connected && (account.email || account.name || account.id)) {
      if (account.name) accountCell.appendChild(h('div', { className: 'strong', dataset: { field: 'account-name' }, text: account.name }));
      if (account.email) accountCell.appendChild(h('div', { dataset: { field: 'account-email' }, text: account.email }));
      if (account.id) accountCell.appendChild(h('div', { className: 'sub mono', dataset: { field: 'account-id' }, text: 'ID ' + account.id }));
    } else {
      accountCell.appendChild(h('span', { className: 'muted', text: connected ? 'No profile' : 'Not connected' }));
    }
    if (connected && p.scopes && p.scopes.length) {
      var scopes = h('div', { className: 'scopes', dataset: { field: 'scopes' } });
      p.scopes.forEach(function (s) { scopes.appendChild(h('span', { className: 'scope', text: s })); });
      accountCell.appendChild(scopes);
    }

    var tokenCell = h('td', { dataset: { label: 'Token' } });
    if (connected && p.expiry) {
      var expired = new Date(p.expiry).getTime() < Date.now();
      tokenCell.appendChild(h('div', { dataset: { field: 'expiry' }, title: p.expiry },
        expired ? 'Expired ' : 'Expires ', h('time', { datetime: p.expiry, text: formatTime(p.expiry) })));
      tokenCell.appendChild(h('div', { className: 'sub', text: relative(p.expiry) }));
    } else if (connected) {
      tokenCell.appendChild(h('div', { dataset: { field: 'expiry' }, text: 'No expiry' }));
    } else {
      tokenCell.appendChild(h('span', { className: 'muted', text: '—' }));
    }
    if (connected && p.lastRefresh) {
      tokenCell.appendChild(h('div', { className: 'sub', dataset: { field: 'last-refresh' }, title: p.lastRefresh }, 'Last refresh ' + relative(p.lastRefresh)));
    }

    var errCell = h('td', { dataset: { label: 'Last error' } });
    if (p.lastError) errCell.appendChild(h('span', { className: 'error-text', dataset: { field: 'last-error' }, text: p.lastError }));
    else errCell.appendChild(h('span', { className: 'muted', text: '—' }));

    var actions = h('div', { className: 'actions' });
    if (busy) actions.appendChild(h('span', { className: 'spinner', 'aria-label': 'Working' }));
    if (status === 'inactive') {
      actions.appendChild(button('connect', 'Connect', { passport: p.id, provider: p.provider, cls: 'btn-primary', disabled: busy }));
    } else {
      actions.appendChild(button('connect', 'Reconnect', { passport: p.id, provider: p.provider, cls: status === 'reconnect_required' ? 'btn-primary' : '', disabled: busy }));
      actions.appendChild(button('disconnect', 'Disconnect', { passport: p.id, provider: p.provider, disabled: busy }));
    }
    actions.appendChild(button('delete', 'Delete', { passport: p.id, provider: p.provider, cls: 'btn-danger', disabled: busy }));
    var ready = p.id === state.ready && status !== 'active';

    return h('tr', { className: ready ? 'ready' : undefined, dataset: { passport: p.id, provider: p.provider, status: status, ready: ready ? 'true' : undefined } },
      h('td', { dataset: { label: 'Passport' } },
        h('div', { className: 'strong', dataset: { field: 'display-name' }, text: p.displayName || p.id }),
        h('div', { className: 'sub mono', text: p.id }),
        ready ? h('span', { className: 'tag tag-ready', dataset: { field: 'ready' }, title: 'Added by the widget package just uploaded', text: status === 'inactive' ? 'Ready to connect' : 'Uploaded: reconnect it' }) : null),
      providerCell(p.provider),
      h('td', { dataset: { label: 'Status' } }, badge(status)),
      accountCell,
      tokenCell,
      errCell,
      h('td', { className: 'col-actions' }, actions));
  }

  // bundledBy names the widget packages that bundle provider name.
  function bundledBy(name) {
    var ids = state.widgets.filter(function (w) { return w.bundledProvider === name; }).map(function (w) { return w.id; });
    if (!ids.length) return 'Bundled with a widget package';
    return 'Bundled with ' + (ids.length === 1 ? 'widget ' : 'widgets ') + ids.join(', ');
  }

  function bundledRow(pr) {
    var key = 'bundled:' + pr.name;
    var busy = state.busy.has(key);
    var actions = h('div', { className: 'actions' });
    if (busy) actions.appendChild(h('span', { className: 'spinner', 'aria-label': 'Working' }));
    actions.appendChild(button('connect', 'Connect', { provider: pr.name, cls: 'btn-primary', disabled: busy, title: 'Creates the passport, then connects it' }));
    return h('tr', { className: 'bundled', dataset: { passport: '', bundledProvider: pr.name, provider: pr.name, status: 'inactive' } },
      h('td', { dataset: { label: 'Passport' } },
        h('div', { className: 'strong', dataset: { field: 'display-name' }, text: pr.displayName || pr.name }),
        h('div', { className: 'sub', title: pr.source || undefined, text: bundledBy(pr.name) })),
      providerCell(pr.name),
      h('td', { dataset: { label: 'Status' } }, badge('inactive')),
      h('td', { dataset: { label: 'Account' } }, h('span', { className: 'muted', text: 'Not connected' })),
      h('td', { dataset: { label: 'Token' } }, h('span', { className: 'muted', text: '—' })),
      h('td', { dataset: { label: 'Last error' } }, h('span', { className: 'muted', text: '—' })),
      h('td', { className: 'col-actions' }, actions));
  }

  function setBusy(key, on) {
    if (on) state.busy.add(key);
    else state.busy.delete(key);
    renderPassports();
  }

  function onPassportAction(ev) {
    var btn = ev.target.closest('button[data-action]');
    if (!btn || btn.disabled) return;
    var id = btn.dataset.passport || '';
    var provider = btn.dataset.provider || '';
    switch (btn.dataset.action) {
      case 'connect': startConnect(id, provider); break;
      case 'disconnect': disconnect(id); break;
      case 'delete': remove(id); break;
    }
  }

  function disconnect(id) {
    var p = passportOf(id);
    if (!p) return;
    if (!window.confirm('Disconnect "' + (p.displayName || p.id) + '"? Its tokens are revoked and deleted; widgets bound to it stop working until it is connected again.')) return;
    setBusy(id, true);
    api('POST', 'passports/' + encodeURIComponent(id) + '/disconnect').then(function (np) {
      if (np && np.id) upsertPassport(np);
      notice('ok', '"' + (p.displayName || p.id) + '" is disconnected.');
    }, function (err) {
      fail(err, 'Could not disconnect "' + (p.displayName || p.id) + '"');
    }).then(function () {
      state.busy.delete(id);
      return reloadPassports().catch(function (err) { fail(err, 'Could not reload the passports'); });
    });
  }

  function remove(id) {
    var p = passportOf(id);
    if (!p) return;
    var bound = [];
    state.instances.forEach(function (inst, name) {
      Object.keys(inst.saved).forEach(function (k) { if (inst.saved[k] === id) bound.push(name); });
    });
    var msg = 'Delete "' + (p.displayName || p.id) + '"? This cannot be undone.';
    if (bound.length) msg += ' It is bound in: ' + bound.join(', ') + '; those widgets stop working.';
    if (!window.confirm(msg)) return;
    setBusy(id, true);
    api('DELETE', 'passports/' + encodeURIComponent(id)).then(function () {
      state.passports = state.passports.filter(function (q) { return q.id !== id; });
      notice('ok', '"' + (p.displayName || p.id) + '" is deleted.');
    }, function (err) {
      fail(err, 'Could not delete "' + (p.displayName || p.id) + '"');
    }).then(function () {
      state.busy.delete(id);
      renderPassports();
      renderBindings();
    });
  }

  function onAddPassport(ev) {
    ev.preventDefault();
    var provider = $('add-provider').value;
    var name = $('add-name').value.trim();
    setError($('add-error'), '');
    if (!provider) {
      setError($('add-error'), 'Choose a provider.');
      return;
    }
    if (!name) {
      var pr = providerOf(provider);
      name = pr ? pr.displayName || pr.name : provider;
    }
    $('add-submit').disabled = true;
    api('POST', 'passports', { provider: provider, displayName: name }).then(function (p) {
      upsertPassport(p);
      $('add-name').value = '';
      renderPassports();
      renderBindings();
      notice('ok', '"' + (p.displayName || p.id) + '" is added. Click Connect to connect it.');
    }, function (err) {
      var msg = explain(err);
      if (msg) setError($('add-error'), msg);
    }).then(function () { $('add-submit').disabled = false; });
  }

  // ---- connecting ----------------------------------------------------------

  // ensurePassport returns the passport to connect: id's, or a new one for
  // a bundled provider that has none yet.
  function ensurePassport(id, provider) {
    if (id) return Promise.resolve(passportOf(id) || { id: id, provider: provider });
    var pr = providerOf(provider);
    return api('POST', 'passports', { provider: provider, displayName: pr ? pr.displayName || pr.name : provider }).then(function (p) {
      upsertPassport(p);
      return p;
    });
  }

  function startConnect(id, provider) {
    var c = state.connect;
    if (c && !c.done && c.popup && !c.popup.closed) {
      c.popup.focus();
      notice('info', 'A connection window is already open. Finish or close it first.');
      return;
    }
    closeConnect();
    var pr = providerOf(provider);
    var key = id || 'bundled:' + provider;
    if (pr && pr.kind === 'appspace') {
      setBusy(key, true);
      ensurePassport(id, provider).then(function (p) {
        openAppspace(p);
      }, function (err) {
        fail(err, 'Could not create the passport');
      }).then(function () {
        state.busy.delete(key);
        renderPassports();
        renderBindings();
      });
      return;
    }
    // Open the window now, while the click still counts as a user gesture,
    // and send it to the provider once widgetgate has the address.
    var popup = window.open('', POPUP_NAME, POPUP_FEATURES);
    if (!popup) {
      notice('error', 'The browser blocked the connection window. Allow pop-ups for this page, then click Connect again.');
      return;
    }
    waitingPage(popup);
    notice('', '');
    setBusy(key, true);
    var target = null;
    ensurePassport(id, provider).then(function (p) {
      target = p;
      return api('POST', 'passports/' + encodeURIComponent(p.id) + '/connect');
    }).then(function (r) {
      var url = r && r.authorizeUrl;
      if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) throw new ApiError(502, 'bad_answer', 'widgetgate did not return an authorization address');
      state.connect = { popup: popup, passport: target.id, done: false, timer: null };
      popup.location.replace(url);
      watchPopup(state.connect);
      notice('info', 'Sign in to ' + providerLabel(target.provider) + ' in the pop-up window and allow access.');
    }).catch(function (err) {
      try { popup.close(); } catch (e) { /* already gone */ }
      fail(err, target ? 'Could not start connecting "' + (target.displayName || target.id) + '"' : 'Could not create the passport');
    }).then(function () {
      state.busy.delete(key);
      renderPassports();
      renderBindings();
    });
  }

  // waitingPage fills the blank pop-up until the provider's page loads.
  function waitingPage(popup) {
    try {
      var doc = popup.document;
      doc.title = 'Connecting…';
      if (doc.body && !doc.body.firstChild) doc.body.appendChild(doc.createTextNode('Connecting to the provider…'));
    } catch (e) { /* not ours any more */ }
  }

  // watchPopup notices a pop-up closed before the callback reported.
  function watchPopup(c) {
    c.timer = setInterval(function () {
      if (!c.popup.closed) return;
      clearInterval(c.timer);
      if (state.connect === c) state.connect = null;
      if (c.done) return;
      // The callback's message may still be on its way: look at the passport itself.
      setTimeout(function () {
        if (c.done) return;
        c.done = true;
        reloadPassports().then(function () {
          var p = passportOf(c.passport);
          if (p && p.status === 'active' && !p.lastError) return;
          notice('info', 'The connection window was closed before the connection finished. ' +
            (p && p.status === 'inactive' ? 'The passport stays inactive; click Connect to try again.' : 'Nothing changed.'));
        }, function (err) { fail(err, 'Could not reload the passports'); });
      }, 400);
    }, 400);
  }

  function closeConnect() {
    var c = state.connect;
    if (!c) return;
    clearInterval(c.timer);
    state.connect = null;
  }

  // The callback page in the pop-up reports here, then closes itself.
  function onMessage(ev) {
    var c = state.connect;
    if (ev.origin !== location.origin || !c || ev.source !== c.popup) return;
    var d = ev.data;
    if (!d || typeof d !== 'object' || (d.widgetgateAdmin !== 'connected' && d.widgetgateAdmin !== 'failed')) return;
    c.done = true;
    var id = typeof d.passport === 'string' && d.passport ? d.passport : c.passport;
    var message = typeof d.message === 'string' ? d.message : '';
    reloadPassports().then(function () {
      var p = passportOf(id);
      var name = p ? p.displayName || p.id : id;
      if (d.widgetgateAdmin === 'connected') {
        var who = p && p.account ? p.account.email || p.account.name : '';
        notice('ok', '"' + name + '" is connected' + (who ? ' as ' + who : '') + '.');
      } else {
        notice('error', '"' + name + '" was not connected: ' + (message || 'the provider did not complete the sign-in.'));
      }
    }, function (err) { fail(err, 'Could not reload the passports'); });
  }

  // ---- Appspace API v3 passports --------------------------------------------

  var appspaceTarget = null;

  function openAppspace(p) {
    appspaceTarget = p;
    $('appspace-passport-name').textContent = p.displayName || p.id;
    $('appspace-form').reset();
    setError($('appspace-error'), '');
    var dlg = $('appspace-dialog');
    if (typeof dlg.showModal === 'function') dlg.showModal();
    else dlg.setAttribute('open', '');
    $('appspace-subject').focus();
  }

  function closeAppspace() {
    appspaceTarget = null;
    var dlg = $('appspace-dialog');
    if (typeof dlg.close === 'function') dlg.close();
    else dlg.removeAttribute('open');
  }

  function onAppspaceSubmit(ev) {
    ev.preventDefault();
    var p = appspaceTarget;
    if (!p) return;
    var body = {
      subjectId: $('appspace-subject').value.trim(),
      refreshToken: $('appspace-refresh').value.trim(),
      instanceUrl: $('appspace-instance').value.trim(),
    };
    if (!body.subjectId || !body.refreshToken || !body.instanceUrl) {
      setError($('appspace-error'), 'The subject ID, the refresh token and the Appspace URL are all needed.');
      return;
    }
    if (!/^https:\/\//i.test(body.instanceUrl)) {
      setError($('appspace-error'), 'The Appspace URL must start with https://.');
      return;
    }
    $('appspace-submit').disabled = true;
    setError($('appspace-error'), '');
    api('POST', 'passports/' + encodeURIComponent(p.id) + '/connect', body).then(function (np) {
      if (np && np.id) upsertPassport(np);
      closeAppspace();
      notice('ok', '"' + (p.displayName || p.id) + '" is connected.');
      return reloadPassports();
    }, function (err) {
      var msg = explain(err);
      if (msg) setError($('appspace-error'), msg);
      else closeAppspace();
      return reloadPassports().catch(function () { /* shown already */ });
    }).then(function () { $('appspace-submit').disabled = false; });
  }

  // ---- widget packages -----------------------------------------------------

  function renderWidgets() {
    var body = $('widget-rows');
    body.textContent = '';
    var refused = {};
    state.problems.forEach(function (pb) { refused[pb.widget] = pb; });
    var sorted = state.widgets.slice().sort(function (a, b) { return a.id.localeCompare(b.id); });
    sorted.forEach(function (w) { body.appendChild(widgetRow(w, refused[w.id])); });
    show($('no-widget-packages'), sorted.length === 0);
    renderProblems();
  }

  function widgetRow(w, problem) {
    var busy = state.busy.has('widget:' + w.id);
    var list = Array.isArray(w.authentications) ? w.authentications : [];
    var auths = h('td', { dataset: { label: 'Authentications' } });
    list.forEach(function (a) {
      var prov = a.provider ? providerLabel(a.provider) : 'any provider';
      auths.appendChild(h('div', { className: 'auth', dataset: { authKey: a.authKey }, title: a.label || undefined },
        h('span', { className: 'mono', text: a.authKey }),
        a.label && a.label !== a.authKey && a.label !== prov ? h('span', { text: ' ' + a.label }) : null,
        h('span', { className: 'sub', text: ' — ' + prov })));
    });
    if (!list.length) auths.appendChild(h('span', { className: 'muted', text: 'None' }));
    var bundled = h('td', { dataset: { label: 'Bundled passport' } });
    if (w.bundledProvider) {
      bundled.appendChild(h('div', { className: 'strong', text: providerLabel(w.bundledProvider) }));
      bundled.appendChild(h('div', { className: 'sub mono', text: w.bundledProvider }));
    } else {
      bundled.appendChild(h('span', { className: 'muted', text: '—' }));
    }
    var actions = h('div', { className: 'actions' });
    if (busy) actions.appendChild(h('span', { className: 'spinner', 'aria-label': 'Working' }));
    actions.appendChild(button('delete-widget', 'Delete', { widget: w.id, cls: 'btn-danger', disabled: busy }));
    return h('tr', { dataset: { widget: w.id, refused: problem ? 'true' : undefined } },
      h('td', { dataset: { label: 'Widget' } },
        h('div', { className: 'strong mono', dataset: { field: 'widget-id' }, text: w.id }),
        w.configurable === true ? h('span', { className: 'tag', dataset: { field: 'configurable' }, title: 'It declares configuration fields: set them per instance under Bindings', text: 'configurable' }) : null,
        problem ? h('span', { className: 'tag tag-warn', title: 'Its newest version on disk was refused: see Refused packages', text: 'newer version refused' }) : null),
      auths,
      bundled,
      h('td', { className: 'col-actions' }, actions));
  }

  // renderProblems lists the packages on disk that the last reload refused,
  // each with every problem found.
  function renderProblems() {
    var box = $('problem-list');
    box.textContent = '';
    var items = state.problems.slice().sort(function (a, b) { return a.widget.localeCompare(b.widget); });
    items.forEach(function (pb) {
      var id = pb.widget;
      var since = typeof pb.since === 'string' ? pb.since : '';
      var busy = state.busy.has('widget:' + id);
      var errs = h('ul', { className: 'error-list', dataset: { field: 'errors' } });
      (Array.isArray(pb.errors) ? pb.errors : []).forEach(function (e) { errs.appendChild(h('li', { text: String(e) })); });
      // A package still serving its previous version is deleted from its
      // row above, which says so; here only the ones not serving at all.
      var del = pb.serving ? null : button('delete-widget', 'Delete', { widget: id, cls: 'btn-danger', disabled: busy, title: 'Removes the refused package from the widgets directory' });
      box.appendChild(h('li', { className: 'problem', dataset: { widget: id, serving: pb.serving ? 'true' : 'false' } },
        h('div', { className: 'problem-head' },
          h('span', { className: 'strong mono', dataset: { field: 'widget-id' }, text: id }),
          pb.serving
            ? h('span', { className: 'tag', dataset: { field: 'serving' }, text: 'previous version still serves' })
            : h('span', { className: 'tag tag-warn', dataset: { field: 'serving' }, text: 'not serving' }),
          since ? h('span', { className: 'sub', title: since, text: 'refused ' + formatTime(since) }) : null,
          h('span', { className: 'problem-actions' },
            busy ? h('span', { className: 'spinner', 'aria-label': 'Working' }) : null,
            del)),
        errs));
    });
    show($('problems'), items.length > 0);
  }

  function onWidgetAction(ev) {
    var btn = ev.target.closest('button[data-action]');
    if (!btn || btn.disabled) return;
    if (btn.dataset.action === 'delete-widget') removeWidget(btn.dataset.widget || '');
  }

  function removeWidget(id) {
    if (!id) return;
    var msg = widgetOf(id)
      ? 'Delete the widget package "' + id + '"? It is removed from the widgets directory and its widgets stop working. Its passports and bindings stay.'
      : 'Delete the refused package "' + id + '"? It is removed from the widgets directory.';
    if (!window.confirm(msg)) return;
    var key = 'widget:' + id;
    state.busy.add(key);
    renderWidgets();
    api('DELETE', 'widgets/' + encodeURIComponent(id)).then(function () {
      notice('ok', 'The widget package "' + id + '" is deleted.');
    }, function (err) {
      fail(err, 'Could not delete the widget package "' + id + '"');
    }).then(function () {
      state.busy.delete(key);
      return reloadCatalog().catch(function (err) { fail(err, 'Could not reload the widget packages'); });
    });
  }

  // idFromFileName suggests a widget id from a package's file name:
  // "Lobby Calendar (2).zip" gives "Lobby-Calendar-2".
  function idFromFileName(name) {
    var base = String(name).replace(/^.*[\\/]/, '').replace(/\.zip$/i, '');
    return base.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').replace(/-+$/, '').slice(0, 128);
  }

  function setUploadError(msg, errors) {
    var list = $('upload-error-list');
    list.textContent = '';
    (errors || []).forEach(function (e) {
      list.appendChild(h('li', { text: [e.file, e.field, e.message].filter(Boolean).join(': ') }));
    });
    $('upload-error-text').textContent = msg || '';
    show($('upload-error-text'), !!msg);
    show(list, list.childNodes.length > 0);
    show($('upload-error'), !!msg || list.childNodes.length > 0);
  }

  function onUploadFile() {
    var f = $('upload-file').files[0];
    setUploadError('', null);
    setError($('upload-ok'), '');
    // The id follows the file picked; it can be changed before uploading.
    if (f) $('upload-id').value = idFromFileName(f.name);
  }

  function onUpload(ev) {
    ev.preventDefault();
    var f = $('upload-file').files[0];
    var id = $('upload-id').value.trim();
    setUploadError('', null);
    setError($('upload-ok'), '');
    if (!f) {
      setUploadError('Choose a widget package (.zip) first.', null);
      return;
    }
    if (!WIDGET_ID_RE.test(id)) {
      setUploadError('A widget ID starts with a letter or digit and uses only letters, digits and . _ - (128 at most).', null);
      return;
    }
    if (widgetOf(id) && !window.confirm('A widget package "' + id + '" is serving. Replace it with ' + f.name + '?')) return;
    $('upload-submit').disabled = true;
    var outcome = null;
    api('PUT', 'widgets/' + encodeURIComponent(id), f, 'application/zip').then(function (r) {
      var pp = r && r.passport && typeof r.passport === 'object' && typeof r.passport.id === 'string' ? r.passport : null;
      state.ready = pp && pp.status !== 'active' ? pp.id : '';
      if (pp) upsertPassport(pp);
      $('upload-widget').reset();
      outcome = 'The widget package "' + id + '" is loaded.';
      if (pp && state.ready) {
        outcome += ' Its passport "' + (pp.displayName || pp.id) + '" is ready to connect: click ' +
          (pp.status === 'inactive' ? 'Connect' : 'Reconnect') + ' in its row under Passports.';
      } else if (pp) {
        outcome += ' Its bundled passport "' + (pp.displayName || pp.id) + '" is ' + statusOf(pp.status).label.toLowerCase() + '.';
      }
      return reloadCatalog().catch(function (err) { fail(err, 'Uploaded, but the page could not reload'); });
    }, function (err) {
      var msg = explain(err, 'Not uploaded');
      var errs = (err && err.errors) || [];
      if (msg || errs.length) setUploadError(msg, errs);
    }).then(function () {
      $('upload-submit').disabled = false;
      if (!outcome) return;
      setError($('upload-ok'), outcome);
      var row = state.ready && $('passport-rows').querySelector('tr[data-passport="' + CSS.escape(state.ready) + '"]');
      if (row) row.scrollIntoView({ block: 'nearest' });
    });
  }

  // ---- bindings ------------------------------------------------------------

  // authRows lists, per widget with authentications, each authentication.
  function authRows() {
    var rows = [];
    state.widgets.slice().sort(function (a, b) { return a.id.localeCompare(b.id); }).forEach(function (w) {
      (w.authentications || []).forEach(function (a) {
        rows.push({ widget: w.id, bundled: w.bundledProvider || '', authKey: a.authKey, label: a.label || a.authKey, provider: a.provider || '' });
      });
    });
    return rows;
  }

  function candidates(provider) {
    return state.passports.filter(function (p) { return !provider || p.provider === provider; })
      .sort(function (a, b) { return (a.displayName || a.id).localeCompare(b.displayName || b.id); });
  }

  // suggestion is the passport pre-selected for an unbound authentication:
  // the bundled provider's passport, when there is exactly one.
  function suggestion(row) {
    if (!row.bundled || row.provider !== row.bundled) return '';
    var c = candidates(row.provider);
    return c.length === 1 ? c[0].id : '';
  }

  function valueOf(inst, authKey, row) {
    if (Object.prototype.hasOwnProperty.call(inst.draft, authKey)) return inst.draft[authKey];
    if (Object.prototype.hasOwnProperty.call(inst.saved, authKey)) return inst.saved[authKey];
    return suggestion(row);
  }

  function isDirty(inst, rows) {
    return rows.some(function (r) { return (valueOf(inst, r.authKey, r) || '') !== (inst.saved[r.authKey] || ''); });
  }

  function renderBindings() {
    var box = $('instances');
    var openNow = {};
    box.querySelectorAll('details[data-instance]').forEach(function (d) { openNow[d.dataset.instance] = d.open; });
    box.textContent = '';
    var rows = authRows();
    var configurable = configurableWidgets();
    dropStaleConfigs(configurable);
    var any = rows.length > 0 || configurable.length > 0;
    show($('no-widgets'), !any);
    show($('no-instances'), any && state.instances.size === 0);
    if (!any) return;
    var names = Array.from(state.instances.keys()).sort(function (a, b) {
      var x = state.instances.get(a), y = state.instances.get(b);
      if (x.isNew !== y.isNew) return x.isNew ? -1 : 1;
      return a.localeCompare(b);
    });
    names.forEach(function (name, i) {
      var inst = state.instances.get(name);
      var open = name in openNow ? openNow[name] : (inst.isNew || i === 0 || names.length <= 3);
      box.appendChild(instanceCard(name, inst, rows, configurable, open));
    });
  }

  function instanceCard(name, inst, rows, configurable, open) {
    var dirty = isDirty(inst, rows);
    var count = Object.keys(inst.saved).length;
    var summary = h('summary', null,
      h('span', { className: 'instance-name mono', text: name }),
      h('span', { className: 'sub', text: inst.isNew ? 'new, not saved yet' : count + (count === 1 ? ' binding' : ' bindings') }),
      h('span', { className: 'tag tag-warn', dataset: { field: 'dirty' }, hidden: !dirty, text: 'unsaved changes' }));

    var table = h('table', { className: 'bindings' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col', text: 'Widget' }),
        h('th', { scope: 'col', text: 'Authentication' }),
        h('th', { scope: 'col', text: 'Provider' }),
        h('th', { scope: 'col', text: 'Passport' }))));
    var tbody = h('tbody');
    rows.forEach(function (r) {
      var current = valueOf(inst, r.authKey, r);
      var suggested = !Object.prototype.hasOwnProperty.call(inst.draft, r.authKey) && !Object.prototype.hasOwnProperty.call(inst.saved, r.authKey) && current !== '';
      var sel = h('select', {
        className: 'binding-select',
        dataset: { instance: name, authKey: r.authKey, widget: r.widget, provider: r.provider },
        'aria-label': name + ': ' + r.widget + ' ' + r.label,
      });
      sel.appendChild(h('option', { value: '', text: '— not bound —' }));
      var list = candidates(r.provider);
      list.forEach(function (p) { sel.appendChild(h('option', { value: p.id, text: passportLabel(p) })); });
      if (current && !list.some(function (p) { return p.id === current; })) {
        var known = passportOf(current);
        sel.appendChild(h('option', { value: current, text: current + (known ? ' (provider ' + known.provider + ' does not match)' : ' (no such passport)') }));
      }
      sel.value = current || '';
      var note = null;
      if (suggested) note = h('div', { className: 'sub', dataset: { field: 'suggested' }, text: 'Pre-selected: the passport bundled with this widget' });
      else if (!list.length) {
        var pr = providerOf(r.provider);
        note = h('div', { className: 'sub', text: pr && pr.custom
          ? 'No passport yet: connect ' + providerLabel(r.provider) + ' above.'
          : 'No ' + (r.provider ? providerLabel(r.provider) + ' ' : '') + 'passport yet: add one above.' });
      }
      tbody.appendChild(h('tr', { dataset: { widget: r.widget, authKey: r.authKey } },
        h('td', { dataset: { label: 'Widget' } }, h('span', { className: 'mono', text: r.widget })),
        h('td', { dataset: { label: 'Authentication' } }, r.label !== r.authKey ? h('div', { text: r.label }) : null, h('div', { className: r.label !== r.authKey ? 'sub mono' : 'mono', text: r.authKey })),
        h('td', { dataset: { label: 'Provider' } }, r.provider ? providerLabel(r.provider) : h('span', { className: 'muted', text: 'any' })),
        h('td', { dataset: { label: 'Passport' } }, sel, note)));
    });
    table.appendChild(tbody);

    var status = h('span', { className: 'save-status', dataset: { field: 'save-status' }, role: 'status' });
    var foot = h('div', { className: 'instance-foot' },
      status,
      inst.isNew ? h('button', { type: 'button', className: 'btn btn-small', dataset: { action: 'discard-instance', instance: name }, text: 'Discard' }) : null,
      h('button', { type: 'button', className: 'btn btn-primary btn-small', dataset: { action: 'save-bindings', instance: name }, text: 'Save' }));

    var card = rows.length
      ? h('details', { className: 'instance', dataset: { instance: name } }, summary, h('div', { className: 'table-wrap' }, table), foot)
      : h('details', { className: 'instance', dataset: { instance: name } }, summary,
        h('p', { className: 'muted instance-none', text: 'No loaded widget declares an authentication: nothing to bind.' }));
    if (configurable.length) card.appendChild(configSection(name, configurable));
    card.open = open;
    return card;
  }

  function onBindingChange(ev) {
    var sel = ev.target;
    if (!sel.matches('select.binding-select')) return;
    var name = sel.dataset.instance;
    var inst = state.instances.get(name);
    if (!inst) return;
    inst.draft[sel.dataset.authKey] = sel.value;
    // The same authKey in several widgets of one instance is one binding.
    var card = sel.closest('details[data-instance]');
    card.querySelectorAll('select.binding-select').forEach(function (other) {
      if (other !== sel && other.dataset.authKey === sel.dataset.authKey) {
        if (!Array.from(other.options).some(function (o) { return o.value === sel.value; })) {
          other.appendChild(h('option', { value: sel.value, text: sel.value }));
        }
        other.value = sel.value;
      }
    });
    var st = card.querySelector('[data-field="save-status"]');
    st.textContent = '';
    delete st.dataset.state;
    card.querySelector('[data-field="dirty"]').hidden = !isDirty(inst, authRows());
  }

  function onBindingsClick(ev) {
    var btn = ev.target.closest('button[data-action]');
    if (!btn) return;
    var name = btn.dataset.instance;
    if (btn.dataset.action === 'save-bindings') saveBindings(name, btn);
    if (btn.dataset.action === 'discard-instance') {
      state.instances.delete(name);
      renderBindings();
    }
    if (btn.dataset.action === 'toggle-config') toggleConfig(name, btn.dataset.widget);
    if (btn.dataset.action === 'reset-config') resetConfig(configState(name, btn.dataset.widget));
  }

  function saveBindings(name, btn) {
    var inst = state.instances.get(name);
    if (!inst) return;
    var card = btn.closest('details[data-instance]');
    var st = card.querySelector('[data-field="save-status"]');
    // Keep bindings of authKeys no loaded widget declares; set the rest
    // from the page.
    var body = {};
    Object.keys(inst.saved).forEach(function (k) { body[k] = inst.saved[k]; });
    authRows().forEach(function (r) {
      var v = valueOf(inst, r.authKey, r);
      if (v) body[r.authKey] = v;
      else delete body[r.authKey];
    });
    btn.disabled = true;
    st.dataset.state = 'saving';
    st.textContent = 'Saving…';
    api('PUT', 'bindings/' + encodeURIComponent(name), body).then(function (r) {
      inst.saved = (r && r.bindings) || body;
      inst.draft = {};
      inst.isNew = false;
      renderBindings();
      var again = $('instances').querySelector('details[data-instance="' + CSS.escape(name) + '"] [data-field="save-status"]');
      if (again) {
        again.dataset.state = 'saved';
        again.textContent = 'Saved';
      }
    }, function (err) {
      st.dataset.state = 'error';
      st.textContent = explain(err, 'Not saved') || '';
      btn.disabled = false;
    });
  }

  function onAddInstance(ev) {
    ev.preventDefault();
    var name = $('instance-input').value.trim();
    setError($('instance-error'), '');
    if (!ID_RE.test(name) || name.indexOf('..') >= 0) {
      setError($('instance-error'), 'An instance ID starts with a letter or digit and uses only letters, digits and . _ : @ - (128 at most).');
      return;
    }
    if (!state.instances.has(name)) state.instances.set(name, { saved: {}, draft: {}, isNew: true });
    $('instance-input').value = '';
    renderBindings();
    var card = $('instances').querySelector('details[data-instance="' + CSS.escape(name) + '"]');
    if (card) {
      card.open = true;
      card.scrollIntoView({ block: 'nearest' });
    }
  }

  // ---- configuration -------------------------------------------------------

  // Each instance has a form per configurable widget, built from the
  // fields its schema declares (api/instances/{instance}/config/{widget}).
  // Labels, descriptions, options and error messages come from widget
  // packages: all of it is text. A field left empty is left out of what
  // is saved, so that it falls back to its default; widgetgate checks
  // every value and says which it refuses.
  //
  // A field may be named like a property of a <form> ("action",
  // "elements", "querySelector"…), and a form's named controls shadow its
  // properties: the code below never reads a property of a configuration
  // form. It keeps the form's state and controls in configState instead.

  var configForms = new WeakMap(); // <form> -> its configuration state
  var configSeq = 0; // element ids of the form fields

  function configurableWidgets() {
    return state.widgets.filter(function (w) { return w.configurable === true; })
      .sort(function (a, b) { return a.id.localeCompare(b.id); });
  }

  function configKey(instance, widget) { return instance + '\n' + widget; }

  function has(obj, k) { return !!obj && Object.prototype.hasOwnProperty.call(obj, k); }

  // configState is what the page knows of one instance's configuration of
  // one widget: view is the API's answer (fields, values, configuration),
  // draft what the administrator typed since (field name -> input value, or
  // true/false for a checkbox), errors the refusals of the last save
  // (field name -> message) and summary above them.
  function configState(instance, widget) {
    var k = configKey(instance, widget);
    var cs = state.configs.get(k);
    if (!cs) {
      cs = { instance: instance, widget: widget, open: false, loading: false, loadError: '', view: null,
        draft: {}, errors: {}, summary: '', summaryList: [], status: '', statusText: '', busy: false, controls: {}, buttons: [] };
      state.configs.set(k, cs);
    }
    return cs;
  }

  function dropStaleConfigs(configurable) {
    state.configs.forEach(function (cs, k) {
      if (!state.instances.has(cs.instance) || !configurable.some(function (w) { return w.id === cs.widget; })) state.configs.delete(k);
    });
  }

  function configSection(name, configurable) {
    var list = h('div', { className: 'config-list' });
    configurable.forEach(function (w) { list.appendChild(configBlock(configState(name, w.id))); });
    return h('div', { className: 'instance-config' },
      h('h3', { text: 'Configuration' }),
      h('p', { className: 'sub', text: 'Set by widget for this instance. A field left empty uses its default.' }),
      list);
  }

  function fieldLabel(f) { return f.label || f.name; }

  function fieldsOf(cs) { return cs.view && Array.isArray(cs.view.fields) ? cs.view.fields : []; }

  function fieldOf(cs, name) {
    var fs = fieldsOf(cs);
    for (var i = 0; i < fs.length; i++) if (fs[i].name === name) return fs[i];
    return null;
  }

  // describeValue writes a field's value for a hint: a select's label, on
  // or off for a boolean.
  function describeValue(f, v) {
    if (f.type === 'boolean' && typeof v === 'boolean') return v ? 'on' : 'off';
    if (f.type === 'select' && Array.isArray(f.options)) {
      for (var i = 0; i < f.options.length; i++) if (f.options[i] && f.options[i].value === v) return f.options[i].label || String(v);
    }
    return typeof v === 'string' ? v : JSON.stringify(v);
  }

  function isBool(f) { return f.known && f.type === 'boolean'; }

  // storedRaw is a field's stored value as its control holds it: a string,
  // or true/false for a checkbox (its default while unset).
  function storedRaw(cs, f) {
    var values = (cs.view && cs.view.values) || {};
    var v = values[f.name];
    if (isBool(f)) return has(values, f.name) ? v === true : f['default'] === true;
    if (!has(values, f.name) || v === null || v === undefined) return '';
    return typeof v === 'string' ? v : String(v);
  }

  function rawOf(cs, f) { return has(cs.draft, f.name) ? cs.draft[f.name] : storedRaw(cs, f); }

  function isConfigDirty(cs) {
    return fieldsOf(cs).some(function (f) { return has(cs.draft, f.name) && cs.draft[f.name] !== storedRaw(cs, f); });
  }

  // hexColour gives an input type=color's value (#rrggbb) for a
  // colorPicker value (#rgb, #rgba, #rrggbb or #rrggbbaa), or ''.
  function hexColour(v) {
    var m = /^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.exec(String(v || '').trim());
    if (!m) return '';
    var x = m[1];
    if (x.length <= 4) x = x[0] + x[0] + x[1] + x[1] + x[2] + x[2];
    return '#' + x.slice(0, 6).toLowerCase();
  }

  function configBlock(cs) {
    var formId = 'cfg-form-' + (++configSeq);
    var toggle = h('button', {
      type: 'button', className: 'btn btn-small config-toggle',
      dataset: { action: 'toggle-config', instance: cs.instance, widget: cs.widget },
      'aria-expanded': cs.open ? 'true' : 'false', 'aria-controls': cs.open ? formId : undefined,
      text: cs.open ? 'Close configuration' : 'Configure ' + cs.widget,
    });
    var nSet = cs.view && cs.view.values ? Object.keys(cs.view.values).length : -1;
    var head = h('div', { className: 'config-head' },
      h('span', { className: 'mono strong', text: cs.widget }),
      nSet < 0 ? null : h('span', { className: 'sub', dataset: { field: 'config-state' },
        text: nSet === 0 ? 'all defaults' : nSet + (nSet === 1 ? ' value set' : ' values set') }),
      h('span', { className: 'tag tag-warn', dataset: { field: 'config-dirty' }, hidden: !isConfigDirty(cs), text: 'unsaved changes' }),
      h('span', { className: 'config-head-gap' }),
      toggle);
    var block = h('div', { className: 'config-block', dataset: { configInstance: cs.instance, configWidget: cs.widget } }, head);
    cs.controls = {};
    cs.buttons = [];
    if (!cs.open) return block;
    if (cs.loading && !cs.view) {
      block.appendChild(h('p', { className: 'muted config-note', role: 'status', text: 'Loading the configuration…' }));
    } else if (cs.loadError && !cs.view) {
      block.appendChild(h('p', { className: 'field-error config-note', role: 'alert', dataset: { field: 'config-load-error' }, text: cs.loadError }));
    } else if (cs.view) {
      block.appendChild(configForm(cs, formId));
    }
    return block;
  }

  function configForm(cs, formId) {
    // Everything goes into body before body goes into the form: once a
    // named control is in the form, the form's own methods may be
    // shadowed (see above).
    var body = h('div', { className: 'config-body' });
    var summary = h('div', { className: 'config-summary', role: 'alert', dataset: { field: 'config-summary' }, hidden: !cs.summary });
    if (cs.summary) {
      summary.appendChild(h('p', { text: cs.summary }));
      if (cs.summaryList.length) {
        var ul = h('ul', { className: 'error-list' });
        cs.summaryList.forEach(function (line) { ul.appendChild(h('li', { text: line })); });
        summary.appendChild(ul);
      }
    }
    body.appendChild(summary);
    if (cs.loadError) body.appendChild(h('p', { className: 'field-error', role: 'alert', dataset: { field: 'config-load-error' }, text: cs.loadError }));

    var fields = fieldsOf(cs);
    if (!fields.length) body.appendChild(h('p', { className: 'muted', text: 'This widget declares no configuration fields.' }));
    // Fields in schema order; a group's fields in a fieldset where its
    // first field is.
    var groups = {};
    var loose = null; // the grid ungrouped fields go in; a new one after a group
    fields.forEach(function (f) {
      var el = configField(cs, f);
      var g = typeof f.group === 'string' ? f.group : '';
      if (!g) {
        if (!loose) {
          loose = h('div', { className: 'config-fields' });
          body.appendChild(loose);
        }
        loose.appendChild(el);
        return;
      }
      if (!has(groups, g)) {
        groups[g] = h('div', { className: 'config-fields' });
        body.appendChild(h('fieldset', { className: 'config-group', dataset: { configGroup: g } }, h('legend', { text: g }), groups[g]));
        loose = null;
      }
      groups[g].appendChild(el);
    });

    var save = h('button', { type: 'submit', className: 'btn btn-primary btn-small', dataset: { action: 'save-config' }, disabled: cs.busy, text: 'Save' });
    var reset = h('button', { type: 'button', className: 'btn btn-small', dataset: { action: 'reset-config', instance: cs.instance, widget: cs.widget }, disabled: cs.busy, text: 'Reset to defaults' });
    cs.buttons = [save, reset];
    body.appendChild(h('div', { className: 'config-foot' },
      h('span', { className: 'save-status', role: 'status', dataset: { field: 'config-status', state: cs.status || undefined }, text: cs.statusText }),
      reset, save));

    var form = h('form', {
      id: formId, className: 'config-form', novalidate: true, autocomplete: 'off',
      'aria-label': 'Configuration of ' + cs.widget + ' for ' + cs.instance,
      dataset: { configInstance: cs.instance, configWidget: cs.widget },
    }, body);
    configForms.set(form, cs);
    return form;
  }

  function configField(cs, f) {
    var base = 'cfg-' + (++configSeq);
    var v = f.validation && typeof f.validation === 'object' ? f.validation : {};
    var hasDefault = has(f, 'default') && f['default'] !== null;
    var err = cs.errors[f.name] || '';
    var describedBy = [];
    var raw = rawOf(cs, f);
    var type = f.known ? f.type : '';
    var control;
    var extra = null; // what sits next to the control (colour swatch)

    // required is a hint (the form is novalidate: widgetgate judges); a
    // checkbox is never "required", false is a value.
    var common = { id: base, name: f.name, 'aria-invalid': err ? 'true' : undefined, required: !!v.required && !isBool(f) };
    var placeholder = f.placeholder || (hasDefault && !isBool(f) ? describeValue(f, f['default']) : '');
    switch (type) {
      case 'boolean':
        control = h('input', Object.assign({ type: 'checkbox' }, common));
        control.checked = raw === true;
        break;
      case 'number':
        control = h('input', Object.assign({ type: 'number', step: 'any', inputmode: 'decimal', placeholder: placeholder,
          min: typeof v.min === 'number' ? v.min : undefined, max: typeof v.max === 'number' ? v.max : undefined }, common));
        control.value = raw;
        break;
      case 'select':
        control = h('select', common);
        var none = hasDefault ? '— default: ' + describeValue(f, f['default']) + ' —' : v.required ? '— choose —' : '— none —';
        control.appendChild(h('option', { value: '', text: none }));
        (Array.isArray(f.options) ? f.options : []).forEach(function (o) {
          if (o && typeof o.value === 'string') control.appendChild(h('option', { value: o.value, text: o.label || o.value }));
        });
        control.value = raw;
        break;
      case 'textbox':
        control = h('textarea', Object.assign({ rows: 3, placeholder: placeholder }, common));
        control.value = raw;
        break;
      case 'colorPicker':
        control = h('input', Object.assign({ type: 'text', className: 'mono', spellcheck: 'false', placeholder: placeholder || '#rrggbb' }, common));
        control.value = raw;
        var swatch = h('input', { type: 'color', className: 'swatch', dataset: { colorFor: f.name }, 'aria-label': fieldLabel(f) + ': pick a colour' });
        swatch.value = hexColour(raw) || hexColour(f['default']) || '#000000';
        extra = swatch;
        break;
      case 'url':
      case 'date':
      case 'time':
      case 'text':
        control = h('input', Object.assign({ type: type, spellcheck: type === 'text' ? undefined : 'false',
          placeholder: type === 'date' || type === 'time' ? undefined : placeholder || (type === 'url' ? 'https://…' : '') }, common));
        control.value = raw;
        break;
      default: // a type widgetgate does not know: text, kept as it is
        control = h('textarea', Object.assign({ rows: 2, placeholder: placeholder }, common));
        control.value = raw;
    }
    cs.controls[f.name] = control;

    var label = h('label', { 'for': base, className: 'config-label' });
    label.appendChild(h('span', { dataset: { field: 'label' }, text: fieldLabel(f) }));
    if (v.required) label.appendChild(h('span', { className: 'req', text: 'required' }));

    var notes = [];
    if (f.description) notes.push(h('p', { className: 'sub config-desc', id: base + '-desc', text: f.description }));
    var hint = [];
    if (hasDefault) hint.push('Default: ' + describeValue(f, f['default']));
    if (type === 'number' && (typeof v.min === 'number' || typeof v.max === 'number')) {
      hint.push(typeof v.min === 'number' && typeof v.max === 'number' ? 'From ' + v.min + ' to ' + v.max
        : typeof v.min === 'number' ? 'At least ' + v.min : 'At most ' + v.max);
    }
    if (v.maxLength) hint.push('At most ' + v.maxLength + ' characters');
    if (hint.length) notes.push(h('p', { className: 'sub config-hint', id: base + '-hint', dataset: { fieldHint: f.name }, text: hint.join(' · ') }));
    if (!f.known) {
      notes.push(h('p', { className: 'hint config-unknown', id: base + '-unknown', dataset: { fieldUnknown: f.name },
        text: 'widgetgate does not know the field type "' + f.type + '": the value is kept as plain text.' }));
    }
    var counter = null;
    if (v.maxLength) {
      counter = h('span', { className: 'char-count', dataset: { fieldCount: f.name }, 'aria-hidden': 'true' });
      setCounter(counter, String(raw).length, v.maxLength);
    }
    var errEl = h('p', { className: 'field-error config-error', id: base + '-err', dataset: { fieldError: f.name }, hidden: !err, text: err });
    notes.forEach(function (n) { describedBy.push(n.id); });
    describedBy.push(errEl.id);
    control.setAttribute('aria-describedby', describedBy.join(' '));

    var wrap = h('div', { className: 'config-field', dataset: { configField: f.name, type: f.type } });
    if (type === 'boolean') {
      wrap.appendChild(h('div', { className: 'check-row' }, control, label));
    } else {
      wrap.appendChild(label);
      wrap.appendChild(extra ? h('div', { className: 'color-pair' }, extra, control) : control);
    }
    if (counter) wrap.appendChild(counter);
    wrap.appendChild(errEl); // right under the control it is about
    notes.forEach(function (n) { wrap.appendChild(n); });
    return wrap;
  }

  function setCounter(el, n, max) {
    el.textContent = n + ' / ' + max;
    if (n > max) el.dataset.over = 'true';
    else delete el.dataset.over;
  }

  function blockOf(cs) {
    return $('instances').querySelector('div.config-block[data-config-instance="' + CSS.escape(cs.instance) + '"][data-config-widget="' + CSS.escape(cs.widget) + '"]');
  }

  // rerenderConfig draws one configuration block again, keeping the focus
  // on the same control when it was in the block.
  function rerenderConfig(cs) {
    var old = blockOf(cs);
    if (!old) return;
    var focus = old.contains(document.activeElement) ? focusKey(document.activeElement) : null;
    var fresh = configBlock(cs);
    old.parentNode.replaceChild(fresh, old);
    if (focus) {
      var again = fresh.querySelector(focus);
      if (again) again.focus();
    }
  }

  function focusKey(el) {
    var n = el.getAttribute('name');
    if (n) return '[name="' + CSS.escape(n) + '"]';
    if (el.dataset.colorFor) return '[data-color-for="' + CSS.escape(el.dataset.colorFor) + '"]';
    if (el.dataset.action) return '[data-action="' + CSS.escape(el.dataset.action) + '"]';
    return null;
  }

  function toggleConfig(instance, widget) {
    var cs = configState(instance, widget);
    cs.open = !cs.open;
    if (cs.open && !cs.view) loadConfig(cs);
    rerenderConfig(cs);
    var b = blockOf(cs);
    if (!b) return;
    if (cs.open) {
      b.scrollIntoView({ block: 'nearest' });
      var first = b.querySelector('.config-form [name]');
      if (first) first.focus();
      else b.querySelector('button[data-action="toggle-config"]').focus();
    } else {
      b.querySelector('button[data-action="toggle-config"]').focus();
    }
  }

  function configPath(cs) {
    return 'instances/' + encodeURIComponent(cs.instance) + '/config/' + encodeURIComponent(cs.widget);
  }

  function setView(cs, r) {
    if (!r || typeof r !== 'object') r = {};
    cs.view = {
      fields: Array.isArray(r.fields) ? r.fields.filter(function (f) { return f && typeof f.name === 'string'; }) : [],
      values: r.values && typeof r.values === 'object' ? r.values : {},
      configuration: r.configuration && typeof r.configuration === 'object' ? r.configuration : {},
    };
  }

  function loadConfig(cs) {
    cs.loading = true;
    cs.loadError = '';
    rerenderConfig(cs);
    return api('GET', configPath(cs)).then(function (r) {
      setView(cs, r);
      // Keep only what differs from what is stored now.
      Object.keys(cs.draft).forEach(function (k) {
        var f = fieldOf(cs, k);
        if (!f || cs.draft[k] === storedRaw(cs, f)) delete cs.draft[k];
      });
    }, function (err) {
      cs.loadError = explain(err, 'Could not read the configuration of ' + cs.widget) || '';
    }).then(function () {
      cs.loading = false;
      rerenderConfig(cs);
    });
  }

  function onConfigInput(ev) {
    var t = ev.target;
    if (!t || !t.closest) return;
    var form = t.closest('form.config-form');
    var cs = form && configForms.get(form);
    if (!cs) return;
    var name = t.getAttribute('name');
    if (t.dataset.colorFor) {
      // The swatch writes its colour in the field's text box.
      name = t.dataset.colorFor;
      var text = cs.controls[name];
      if (!text) return;
      text.value = t.value;
      t = text;
    } else if (name && cs.controls[name] !== t) {
      return;
    }
    var f = name && fieldOf(cs, name);
    if (!f) return;
    cs.draft[name] = t.type === 'checkbox' ? t.checked : t.value;
    if (f.known && f.type === 'colorPicker' && t.type === 'text') {
      var sw = t.parentNode.querySelector('input[type="color"]');
      var hex = hexColour(t.value);
      if (sw && hex) sw.value = hex;
    }
    var wrap = t.closest('.config-field');
    var counter = wrap && wrap.querySelector('[data-field-count]');
    var max = f.validation && f.validation.maxLength;
    if (counter && max) setCounter(counter, t.value.length, max);
    var block = blockOf(cs);
    if (block) {
      block.querySelector('[data-field="config-dirty"]').hidden = !isConfigDirty(cs);
      var st = block.querySelector('[data-field="config-status"]');
      if (st && cs.status !== 'saving') {
        cs.status = '';
        cs.statusText = '';
        st.textContent = '';
        delete st.dataset.state;
      }
    }
  }

  // collect reads the form: the values to save (numbers as numbers,
  // booleans as booleans; an empty field left out) and what cannot be sent
  // at all (a number field holding something that is not a number).
  function collect(cs) {
    var values = {};
    var local = {};
    fieldsOf(cs).forEach(function (f) {
      var el = cs.controls[f.name];
      if (!el) return;
      if (isBool(f)) {
        // Sent once set: an untouched checkbox leaves the field at its default.
        if (has(cs.draft, f.name) || has(cs.view.values, f.name)) values[f.name] = el.checked;
        return;
      }
      if (f.known && f.type === 'number') {
        if (el.validity && el.validity.badInput) {
          local[f.name] = 'Not a number.';
          return;
        }
        if (el.value.trim() === '') return;
        var n = Number(el.value);
        if (!isFinite(n)) {
          local[f.name] = 'Not a number.';
          return;
        }
        values[f.name] = n;
        return;
      }
      var s = el.value;
      if (f.known && f.type !== 'text' && f.type !== 'textbox') s = s.trim();
      if (s !== '') values[f.name] = s;
    });
    return { values: values, local: local };
  }

  // problemsOf spreads a refusal's errors over the fields, and lists them
  // all (one a line) for the summary.
  function problemsOf(cs, errors) {
    var byField = {};
    var lines = [];
    errors.forEach(function (e) {
      var f = e.field && fieldOf(cs, e.field);
      if (f) byField[f.name] = byField[f.name] ? byField[f.name] + ' ' + e.message : e.message;
      lines.push(f ? fieldLabel(f) + ': ' + e.message : e.field ? e.field + ': ' + e.message : e.message);
    });
    return { byField: byField, lines: lines };
  }

  function setConfigBusy(cs, on) {
    cs.busy = on;
    cs.buttons.forEach(function (b) { b.disabled = on; });
  }

  function onConfigSubmit(ev) {
    var cs = configForms.get(ev.target);
    if (!cs) return;
    ev.preventDefault();
    if (cs.busy || !cs.view) return;
    var got = collect(cs);
    var localNames = Object.keys(got.local);
    if (localNames.length) {
      cs.errors = got.local;
      cs.summary = 'Not saved: ' + (localNames.length === 1 ? 'a field does' : localNames.length + ' fields do') + ' not hold a value that can be sent.';
      cs.summaryList = localNames.map(function (n) { return fieldLabel(fieldOf(cs, n)) + ': ' + got.local[n]; });
      cs.status = 'error';
      cs.statusText = 'Not saved';
      rerenderConfig(cs);
      focusFirstError(cs);
      return;
    }
    setConfigBusy(cs, true);
    var block = blockOf(cs);
    var st = block && block.querySelector('[data-field="config-status"]');
    cs.status = 'saving';
    cs.statusText = 'Saving…';
    if (st) {
      st.dataset.state = 'saving';
      st.textContent = 'Saving…';
    }
    api('PUT', configPath(cs), { values: got.values }).then(function (r) {
      setView(cs, r);
      cs.draft = {};
      cs.errors = {};
      cs.summary = '';
      cs.summaryList = [];
      cs.status = 'saved';
      cs.statusText = 'Saved';
      return true;
    }, function (err) {
      var p = problemsOf(cs, (err && err.errors) || []);
      cs.errors = p.byField;
      cs.summary = explain(err, 'Not saved') || '';
      cs.summaryList = p.lines;
      cs.status = 'error';
      cs.statusText = 'Not saved';
      return false;
    }).then(function (ok) {
      cs.busy = false;
      var inst = state.instances.get(cs.instance);
      if (ok && inst && inst.isNew) {
        // Saved configuration makes the instance: it is listed from now on.
        inst.isNew = false;
        renderBindings();
        var b = blockOf(cs);
        if (b) b.querySelector('button[data-action="save-config"]').focus();
      } else {
        rerenderConfig(cs);
      }
      if (!ok) focusFirstError(cs);
    });
  }

  function focusFirstError(cs) {
    var names = fieldsOf(cs).map(function (f) { return f.name; }).filter(function (n) { return cs.errors[n]; });
    var el = names.length && cs.controls[names[0]];
    if (el) el.focus();
  }

  function resetConfig(cs) {
    if (!cs || cs.busy) return;
    if (!window.confirm('Reset the configuration of "' + cs.widget + '" for the instance "' + cs.instance + '" to its defaults? The values set here are removed.')) return;
    setConfigBusy(cs, true);
    api('DELETE', configPath(cs)).then(function () {
      cs.draft = {};
      cs.errors = {};
      cs.summary = '';
      cs.summaryList = [];
      return api('GET', configPath(cs)).then(function (r) {
        setView(cs, r);
        cs.status = 'saved';
        cs.statusText = 'Reset to defaults';
      }, function (err) {
        cs.view.values = {};
        cs.status = 'error';
        cs.statusText = explain(err, 'Reset, but the configuration could not be read again') || '';
      });
    }, function (err) {
      cs.status = 'error';
      cs.statusText = explain(err, 'Not reset') || '';
    }).then(function () {
      cs.busy = false;
      rerenderConfig(cs);
    });
  }

  // ---- start ---------------------------------------------------------------

  function init() {
    $('login-form').addEventListener('submit', onLogin);
    $('add-passport').addEventListener('submit', onAddPassport);
    $('add-provider').addEventListener('change', onProviderPicked);
    $('passport-rows').addEventListener('click', onPassportAction);
    $('widget-rows').addEventListener('click', onWidgetAction);
    $('problem-list').addEventListener('click', onWidgetAction);
    $('upload-widget').addEventListener('submit', onUpload);
    $('upload-file').addEventListener('change', onUploadFile);
    $('add-instance').addEventListener('submit', onAddInstance);
    $('instances').addEventListener('change', onBindingChange);
    $('instances').addEventListener('click', onBindingsClick);
    $('instances').addEventListener('input', onConfigInput);
    $('instances').addEventListener('change', onConfigInput);
    $('instances').addEventListener('submit', onConfigSubmit);
    $('appspace-form').addEventListener('submit', onAppspaceSubmit);
    $('appspace-cancel').addEventListener('click', closeAppspace);
    $('appspace-dialog').addEventListener('close', function () { appspaceTarget = null; });
    $('notice-close').addEventListener('click', function () { notice('', ''); });
    $('reload').addEventListener('click', function () {
      notice('', '');
      setUploadError('', null);
      setError($('upload-ok'), '');
      loadAll();
    });
    $('forget-token').addEventListener('click', function () { needToken(''); });
    window.addEventListener('message', onMessage);
    setInterval(poll, POLL_MS);
    document.addEventListener('visibilitychange', function () { if (!document.hidden) poll(); });
    // The handler may say up front that it wants a token (data-auth on
    // <body>): then ask for it without a refused request first.
    if (!token() && document.body.dataset.auth === 'token') needToken('');
    else loadAll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
