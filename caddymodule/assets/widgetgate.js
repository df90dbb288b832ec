/*
 * widgetgate.js: the browser kit of widgetgate. Plain ES2017, no
 * dependencies, served by the widgetgate handler at <route>/widgetgate.js.
 *
 * One file, two roles:
 *
 * - Widget role (the script tag has data-widgetgate-role="widget"; the
 *   handler injects it into every widget.html it serves). Runs inside the
 *   widget's sandboxed iframe and provides the widget developer guide's
 *   window.appspace.widgetApi.callAuthenticatedAPI(name, {params}). Each
 *   call is posted to the parent window (the host page) and answered by it.
 *   The message holds no secret: the iframe has an opaque origin and never
 *   sees a token.
 *
 * - Host role (no role attribute; loaded by the page that shows widgets).
 *   window.WidgetGate.mount(container, {sidecar, widget, context, title})
 *   puts the widget in an <iframe sandbox="allow-scripts"> (no
 *   allow-same-origin, so the widget cannot reach the host page, its
 *   storage or its cookies) and bridges its calls: a message is accepted
 *   only from the contentWindow of an iframe this host mounted, the widget
 *   id of a call is that iframe's (never one named in the message), and
 *   the call is POSTed to the sidecar with the host's signed caller context
 *   (X-Widget-Context) attached.
 *
 * Message protocol (postMessage, structured clone):
 *   widget -> host: {widgetgate: 1, type: 'call', id, name, params}
 *   host -> widget: {widgetgate: 1, type: 'result', id, result: {status, statusText, data[, cache[, age]]}}
 *                (cache: the sidecar's Widgetgate-Cache header, one of miss, hit,
 *                coalesced, stale, bypass; age: a hit's or stale answer's Age, seconds)
 *                or {widgetgate: 1, type: 'result', id, error: {code, message}}
 *
 * Under Node (no window/document) the file exports its pure parts, for the
 * unit tests in widgetgate.test.mjs.
 */
(function () {
  'use strict';

  var PROTOCOL = 1;
  var NAME_RE = /^[A-Za-z0-9_-]{1,128}$/;
  var ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
  var WIDGET_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
  var MAX_PARAMS = 64;
  var MAX_PARAM_NAME = 256;
  var MAX_PARAM_VALUE = 65536;
  var CALL_TIMEOUT_MS = 60000;
  var MAX_IN_FLIGHT = 32; // per mounted iframe
  var TOKEN_REFRESH_MARGIN_MS = 30000;
  var CALL_KEYS = ['widgetgate', 'type', 'id', 'name', 'params'];
  var CACHE_SOURCES = ['miss', 'hit', 'coalesced', 'stale', 'bypass'];
  var ONLY_PARAMS = "callAuthenticatedAPI accepts only params; method, headers and body are defined in the widget's schema";

  // ---- validation (pure) ---------------------------------------------------

  // isPlainObject accepts {} and Object.create(null) from any realm (a
  // structured clone is made in the receiver's realm, a widget's own objects
  // in the iframe's), and nothing else: no arrays, dates, maps, class
  // instances or proxies of those.
  function isPlainObject(v) {
    if (v === null || typeof v !== 'object') return false;
    if (Object.prototype.toString.call(v) !== '[object Object]') return false;
    var proto = Object.getPrototypeOf(v);
    return proto === null || Object.getPrototypeOf(proto) === null;
  }

  function own(obj, key) {
    return Object.prototype.hasOwnProperty.call(obj, key);
  }

  // setOwn sets a data property, even one named "__proto__".
  function setOwn(obj, key, value) {
    Object.defineProperty(obj, key, { value: value, enumerable: true, writable: true, configurable: true });
  }

  // validateParams checks a call's params and returns a fresh copy:
  // {params} or {error}. undefined and null mean no params.
  function validateParams(params) {
    if (params === undefined || params === null) return { params: {} };
    if (!isPlainObject(params)) return { error: 'params must be a plain object of names to strings, numbers or booleans' };
    var keys = Object.keys(params);
    if (keys.length > MAX_PARAMS) return { error: 'too many params: ' + keys.length + ' (at most ' + MAX_PARAMS + ')' };
    var out = {};
    for (var i = 0; i < keys.length; i++) {
      var k = keys[i];
      if (k.length === 0 || k.length > MAX_PARAM_NAME) return { error: 'param names must be 1 to ' + MAX_PARAM_NAME + ' characters' };
      var v = params[k];
      var t = typeof v;
      if (t === 'string') {
        if (v.length > MAX_PARAM_VALUE) return { error: 'param ' + JSON.stringify(k) + ' is too long' };
      } else if (t === 'number') {
        if (!isFinite(v)) return { error: 'param ' + JSON.stringify(k) + ' must be a finite number' };
      } else if (t !== 'boolean') {
        return { error: 'param ' + JSON.stringify(k) + ' must be a string, a number or a boolean, not ' + (v === null ? 'null' : Array.isArray(v) ? 'an array' : t) };
      }
      setOwn(out, k, v);
    }
    return { params: out };
  }

  // checkCallArgs checks callAuthenticatedAPI's arguments, widget side:
  // {name, params} or {error}.
  function checkCallArgs(name, options) {
    if (typeof name !== 'string' || !NAME_RE.test(name)) {
      return { error: 'callAuthenticatedAPI: the API name must be 1 to 128 letters, digits, "_" or "-" (the name of an authenticatedApis entry)' };
    }
    if (options === undefined || options === null) return { name: name, params: {} };
    if (!isPlainObject(options)) return { error: ONLY_PARAMS + ': pass {params: {...}}' };
    var extra = Object.keys(options).filter(function (k) { return k !== 'params'; });
    if (extra.length > 0) return { error: ONLY_PARAMS + ' (got ' + extra.join(', ') + ')' };
    var p = validateParams(options.params);
    if (p.error) return { error: 'callAuthenticatedAPI: ' + p.error };
    return { name: name, params: p.params };
  }

  // parseCall checks a message received by the host. It returns null for
  // messages that are not widgetgate calls at all or carry no usable id
  // (nothing to answer), {id, error: {code, message}} for calls to refuse,
  // and {id, name, params} for good calls. It never reads a widget id.
  function parseCall(data) {
    if (!isPlainObject(data) || data.widgetgate !== PROTOCOL) return null;
    if (typeof data.id !== 'string' || !ID_RE.test(data.id)) return null;
    var id = data.id;
    function refuse(code, message) { return { id: id, error: { code: code, message: message } }; }
    if (data.type !== 'call') return refuse('invalid_message', 'unsupported message type');
    var keys = Object.keys(data);
    for (var i = 0; i < keys.length; i++) {
      if (CALL_KEYS.indexOf(keys[i]) < 0) return refuse('invalid_message', 'unexpected field ' + JSON.stringify(keys[i].slice(0, 64)) + ' in call');
    }
    if (typeof data.name !== 'string' || !NAME_RE.test(data.name)) return refuse('invalid_name', 'API names are 1 to 128 letters, digits, "_" or "-"');
    var p = validateParams(data.params);
    if (p.error) return refuse('invalid_params', p.error);
    return { id: id, name: data.name, params: p.params };
  }

  // parseReply checks a message received by the widget from its parent:
  // null unless it is a well-formed answer; else {id, result} or {id, error}.
  function parseReply(data) {
    if (!isPlainObject(data) || data.widgetgate !== PROTOCOL || data.type !== 'result') return null;
    if (typeof data.id !== 'string' || !ID_RE.test(data.id)) return null;
    var hasResult = own(data, 'result');
    var hasError = own(data, 'error');
    if (hasResult === hasError) return null;
    if (hasError) {
      var e = data.error;
      if (!isPlainObject(e) || typeof e.message !== 'string') return null;
      return { id: data.id, error: { code: typeof e.code === 'string' ? e.code : 'error', message: e.message } };
    }
    var r = data.result;
    if (!isPlainObject(r) || typeof r.status !== 'number' || r.status % 1 !== 0 || r.status < 0 || r.status > 999 ||
        typeof r.statusText !== 'string' || !own(r, 'data')) {
      return null;
    }
    return { id: data.id, result: withCache({ status: r.status, statusText: r.statusText, data: r.data }, r.cache, r.age) };
  }

  // withCache adds where an answer came from to result, when cache is one
  // of the sidecar's Widgetgate-Cache words and age (if any) a whole
  // number of seconds; anything else is left out.
  function withCache(result, cache, age) {
    if (CACHE_SOURCES.indexOf(cache) < 0) return result;
    result.cache = cache;
    var n = typeof age === 'string' && /^[0-9]{1,10}$/.test(age) ? Number(age) : age;
    if (typeof n === 'number' && n % 1 === 0 && n >= 0 && n < 1e10) result.age = n;
    return result;
  }

  // jwtExpiry returns a JWT's exp claim in milliseconds, or 0. The token is
  // not verified here: the sidecar does that; the host only needs to know
  // when to fetch a new one.
  function jwtExpiry(token) {
    try {
      var part = String(token).split('.')[1];
      if (!part) return 0;
      var b64 = part.replace(/-/g, '+').replace(/_/g, '/');
      while (b64.length % 4) b64 += '=';
      var claims = JSON.parse(atob(b64));
      return typeof claims.exp === 'number' && isFinite(claims.exp) ? claims.exp * 1000 : 0;
    } catch (e) {
      return 0;
    }
  }

  var REASONS = {
    200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
    405: 'Method Not Allowed', 413: 'Content Too Large', 429: 'Too Many Requests', 499: 'Client Closed Request',
    500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout'
  };

  function randomHex(bytes) {
    var a = new Uint8Array(bytes);
    var c = typeof crypto !== 'undefined' ? crypto : null;
    if (c && c.getRandomValues) {
      c.getRandomValues(a);
    } else {
      for (var i = 0; i < a.length; i++) a[i] = Math.floor(Math.random() * 256);
    }
    var s = '';
    for (var j = 0; j < a.length; j++) s += (a[j] < 16 ? '0' : '') + a[j].toString(16);
    return s;
  }

  // ---- widget role -----------------------------------------------------------

  // createWidgetApi returns {callAuthenticatedAPI} for the window win (the
  // widget's). Answers are taken only from win.parent, well-formed, and for
  // a call still pending.
  function createWidgetApi(win, opts) {
    opts = opts || {};
    var timeoutMs = opts.timeoutMs || CALL_TIMEOUT_MS;
    var parent = win.parent;
    var prefix = randomHex(8);
    var seq = 0;
    var pending = new Map();

    win.addEventListener('message', function (event) {
      if (!parent || parent === win || event.source !== parent) return;
      var reply = parseReply(event.data);
      if (!reply) return;
      var p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      clearTimeout(p.timer);
      if (reply.error) {
        var err = new Error('callAuthenticatedAPI(' + JSON.stringify(p.name) + ') failed: ' + reply.error.message);
        err.code = reply.error.code;
        p.reject(err);
      } else {
        p.resolve(reply.result);
      }
    });

    function callAuthenticatedAPI(name, options) {
      return new Promise(function (resolve, reject) {
        var call = checkCallArgs(name, options);
        if (call.error) {
          reject(new TypeError(call.error));
          return;
        }
        if (!parent || parent === win) {
          reject(new Error('callAuthenticatedAPI: this widget is not running inside a widgetgate host page'));
          return;
        }
        var id = 'c' + prefix + '-' + (++seq);
        var timer = setTimeout(function () {
          if (pending.delete(id)) {
            reject(new Error('callAuthenticatedAPI(' + JSON.stringify(call.name) + ') timed out after ' + Math.round(timeoutMs / 1000) + ' s'));
          }
        }, timeoutMs);
        pending.set(id, { name: call.name, resolve: resolve, reject: reject, timer: timer });
        try {
          parent.postMessage({ widgetgate: PROTOCOL, type: 'call', id: id, name: call.name, params: call.params }, '*');
        } catch (e) {
          pending.delete(id);
          clearTimeout(timer);
          reject(e);
        }
      });
    }

    return { callAuthenticatedAPI: callAuthenticatedAPI };
  }

  // ---- host role -------------------------------------------------------------

  // tokenSource wraps a host's context option (a string, or a function
  // returning a token or a promise of one) and caches a token until
  // TOKEN_REFRESH_MARGIN_MS before its exp claim. Concurrent callers share
  // one fetch.
  function tokenSource(context, now) {
    if (typeof context === 'string') {
      return { get: function () { return Promise.resolve({ token: context, fresh: true }); }, invalidate: function () {} };
    }
    if (typeof context !== 'function') throw new TypeError('WidgetGate.mount: context must be a token string or a function returning one');
    var cached = null;
    var inflight = null;
    return {
      get: function () {
        if (cached && now() < cached.refreshAt) return Promise.resolve({ token: cached.token, fresh: false });
        if (!inflight) {
          inflight = Promise.resolve().then(function () { return context(); }).then(function (token) {
            inflight = null;
            if (typeof token !== 'string' || token === '') throw new Error('the host\'s context function returned no token');
            var exp = jwtExpiry(token);
            var refreshAt = exp - TOKEN_REFRESH_MARGIN_MS;
            cached = exp && refreshAt > now() ? { token: token, refreshAt: refreshAt } : null;
            return { token: token, fresh: true };
          }, function (err) {
            inflight = null;
            throw err;
          });
        }
        return inflight;
      },
      invalidate: function () { cached = null; }
    };
  }

  // createBridge holds the mounted widgets of one host window and answers
  // their calls. deps: {fetch, now, contextHeader, warn}.
  function createBridge(deps) {
    deps = deps || {};
    var fetchImpl = deps.fetch;
    var now = deps.now || Date.now;
    var contextHeader = deps.contextHeader || 'X-Widget-Context';
    var warn = deps.warn || function () {};
    var mounts = [];

    // register adds a widget frame: {frame (an iframe, or anything with a
    // contentWindow), widget, sidecar, context}. It returns the mount.
    function register(spec) {
      if (typeof spec.widget !== 'string' || !WIDGET_RE.test(spec.widget)) throw new TypeError('WidgetGate.mount: invalid widget id ' + JSON.stringify(spec.widget));
      if (typeof spec.sidecar !== 'string' || spec.sidecar === '') throw new TypeError('WidgetGate.mount: sidecar URL is required');
      var m = {
        frame: spec.frame,
        widget: spec.widget,
        sidecar: spec.sidecar.replace(/\/+$/, ''),
        tokens: tokenSource(spec.context, now),
        inFlight: 0
      };
      mounts.push(m);
      return m;
    }

    function unregister(m) {
      var i = mounts.indexOf(m);
      if (i >= 0) mounts.splice(i, 1);
    }

    function mountFor(source) {
      if (!source) return null;
      for (var i = 0; i < mounts.length; i++) {
        if (mounts[i].frame && mounts[i].frame.contentWindow === source) return mounts[i];
      }
      return null;
    }

    // answer posts a reply to the frame that asked, if it is still mounted
    // and still holds the same window.
    function answer(m, source, id, body) {
      if (mounts.indexOf(m) < 0 || m.frame.contentWindow !== source) return;
      var msg = { widgetgate: PROTOCOL, type: 'result', id: id };
      if (body.error) msg.error = body.error; else msg.result = body.result;
      // The frame's origin is opaque ("null"), so "*" is the only target
      // origin that reaches it; the target window itself is fixed.
      source.postMessage(msg, '*');
    }

    function sidecarCall(m, call, retried) {
      return m.tokens.get().then(function (t) {
        var url = m.sidecar + '/widgets/' + encodeURIComponent(m.widget) + '/apis/' + encodeURIComponent(call.name);
        var headers = { 'Content-Type': 'application/json' };
        headers[contextHeader] = t.token;
        return fetchImpl(url, {
          method: 'POST',
          mode: 'cors',
          credentials: 'omit',
          cache: 'no-store',
          referrerPolicy: 'no-referrer',
          headers: headers,
          body: JSON.stringify({ params: call.params })
        }).then(function (res) {
          return res.text().then(function (text) {
            var data = text;
            var ct = (res.headers && res.headers.get && res.headers.get('Content-Type')) || '';
            if (/json/i.test(ct)) {
              try { data = JSON.parse(text); } catch (e) { data = text; }
            }
            // A cached token the sidecar refuses (rotated key, clock skew):
            // fetch a new one and try once more.
            if (res.status === 401 && !t.fresh && !retried && data && data.code === 'invalid_caller_context') {
              m.tokens.invalidate();
              return sidecarCall(m, call, true);
            }
            var get = function (name) { return (res.headers && res.headers.get && res.headers.get(name)) || undefined; };
            return withCache({ status: res.status, statusText: res.statusText || REASONS[res.status] || '', data: data },
              get('Widgetgate-Cache'), get('Age'));
          });
        });
      }, function (err) {
        var e = new Error('no caller context: ' + (err && err.message ? err.message : String(err)));
        e.code = 'context_unavailable';
        throw e;
      });
    }

    // handleMessage is the host window's message listener. It returns a
    // promise that settles once the call (if any) has been answered.
    function handleMessage(event) {
      var m = mountFor(event.source);
      if (!m) return Promise.resolve(false); // not from one of our frames: not ours to answer
      // Our frames are sandboxed without allow-same-origin: their origin is
      // opaque. Anything else is not a frame this host set up.
      if (event.origin !== 'null') {
        warn('widgetgate: ignored a message from a widget frame with origin ' + event.origin);
        return Promise.resolve(false);
      }
      var source = event.source;
      var call = parseCall(event.data);
      if (!call) return Promise.resolve(false);
      if (call.error) {
        warn('widgetgate: refused a message from widget ' + m.widget + ': ' + call.error.message);
        answer(m, source, call.id, { error: call.error });
        return Promise.resolve(true);
      }
      if (m.inFlight >= MAX_IN_FLIGHT) {
        answer(m, source, call.id, { error: { code: 'too_many_calls', message: 'too many calls in flight (at most ' + MAX_IN_FLIGHT + ')' } });
        return Promise.resolve(true);
      }
      m.inFlight++;
      return sidecarCall(m, call, false).then(function (result) {
        m.inFlight--;
        answer(m, source, call.id, { result: result });
        return true;
      }, function (err) {
        m.inFlight--;
        answer(m, source, call.id, { error: { code: err && err.code || 'network_error', message: err && err.message ? err.message : 'the call failed' } });
        return true;
      });
    }

    return { register: register, unregister: unregister, handleMessage: handleMessage, mounts: function () { return mounts.slice(); } };
  }

  // installHost defines window.WidgetGate.
  function installHost(win) {
    var bridge = null;
    function getBridge() {
      if (!bridge) {
        bridge = createBridge({
          fetch: function (url, init) { return win.fetch(url, init); },
          now: Date.now,
          warn: function (msg) { if (win.console) win.console.warn(msg); }
        });
        win.addEventListener('message', bridge.handleMessage);
      }
      return bridge;
    }

    function mount(container, options) {
      options = options || {};
      var doc = win.document;
      var el = typeof container === 'string' ? doc.querySelector(container) : container;
      if (!el || typeof el.appendChild !== 'function') throw new TypeError('WidgetGate.mount: container not found');
      var sidecar = new URL(String(options.sidecar || ''), win.location.href).href.replace(/\/+$/, '');
      var frame = doc.createElement('iframe');
      var m = getBridge().register({ frame: frame, widget: options.widget, sidecar: sidecar, context: options.context });
      frame.setAttribute('sandbox', 'allow-scripts');
      frame.setAttribute('referrerpolicy', 'no-referrer');
      frame.setAttribute('title', String(options.title || options.widget));
      frame.setAttribute('data-widgetgate-widget', options.widget);
      frame.className = 'widgetgate-frame';
      frame.style.border = '0';
      frame.style.width = '100%';
      frame.style.height = '100%';
      frame.src = m.sidecar + '/widgets/' + encodeURIComponent(options.widget) + '/widget.html';
      el.appendChild(frame);
      return {
        frame: frame,
        widget: options.widget,
        unmount: function () {
          getBridge().unregister(m);
          if (frame.parentNode) frame.parentNode.removeChild(frame);
        }
      };
    }

    win.WidgetGate = { version: PROTOCOL, mount: mount };
  }

  // installWidget defines window.appspace.widgetApi.
  function installWidget(win) {
    win.appspace = win.appspace || {};
    win.appspace.widgetApi = createWidgetApi(win);
  }

  var kit = {
    PROTOCOL: PROTOCOL,
    CALL_TIMEOUT_MS: CALL_TIMEOUT_MS,
    MAX_PARAMS: MAX_PARAMS,
    ONLY_PARAMS: ONLY_PARAMS,
    isPlainObject: isPlainObject,
    validateParams: validateParams,
    checkCallArgs: checkCallArgs,
    parseCall: parseCall,
    parseReply: parseReply,
    withCache: withCache,
    jwtExpiry: jwtExpiry,
    tokenSource: tokenSource,
    createWidgetApi: createWidgetApi,
    createBridge: createBridge
  };

  if (typeof window !== 'undefined' && typeof document !== 'undefined') {
    var script = document.currentScript;
    if (script && script.getAttribute('data-widgetgate-role') === 'widget') {
      installWidget(window);
    } else {
      installHost(window);
    }
  } else if (typeof module === 'object' && module !== null && module.exports) {
    module.exports = kit;
  }
})();
