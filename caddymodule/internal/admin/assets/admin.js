// widgetgate operator page: passports (connect, reconnect, disconnect,
// delete), widget packages (upload, delete, the refused ones) and the
// bindings of widget instances. Served by the
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
    show($('no-widgets'), rows.length === 0);
    show($('no-instances'), rows.length > 0 && state.instances.size === 0);
    if (rows.length === 0) return;
    var names = Array.from(state.instances.keys()).sort(function (a, b) {
      var x = state.instances.get(a), y = state.instances.get(b);
      if (x.isNew !== y.isNew) return x.isNew ? -1 : 1;
      return a.localeCompare(b);
    });
    names.forEach(function (name, i) {
      var inst = state.instances.get(name);
      var open = name in openNow ? openNow[name] : (inst.isNew || i === 0 || names.length <= 3);
      box.appendChild(instanceCard(name, inst, rows, open));
    });
  }

  function instanceCard(name, inst, rows, open) {
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

    var card = h('details', { className: 'instance', dataset: { instance: name } }, summary, h('div', { className: 'table-wrap' }, table), foot);
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
