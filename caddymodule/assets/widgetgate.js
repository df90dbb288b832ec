/*
 * widgetgate.js: the browser kit of widgetgate. Plain ES2017, no
 * dependencies, served by the widgetgate handler at <route>/widgetgate.js.
 *
 * One file, two roles:
 *
 * - Widget role (the script tag has data-widgetgate-role="widget"; the
 *   handler injects it into every widget.html it serves). Runs inside the
 *   widget's sandboxed iframe and provides the Appspace Widget API:
 *   window.appspace.waitForWidgetApi() resolves with the API object once
 *   the host has answered the kit's hello; window.appspace.widgetApi is set
 *   and the event "appspace:widgetapi:ready" is dispatched on window at
 *   that moment, exactly once (never before). Every method returns a
 *   Promise; all but getInfo are messages posted to the parent window (the
 *   host page) and answered by it: the host decides, the widget only asks.
 *   No message holds a secret: the iframe has an opaque origin and never
 *   sees a token. Methods the kit does not implement are absent
 *   (undefined), so widgets can feature-test them with typeof; the API
 *   object is frozen.
 *
 * - Host role (no role attribute; loaded by the page that shows widgets).
 *   window.WidgetGate.mount(container, options) puts the widget in an
 *   <iframe sandbox="allow-scripts"> (no allow-same-origin, so the widget
 *   cannot reach the host page, its storage or its cookies) and answers
 *   its messages: a message is accepted only from the contentWindow of an
 *   iframe this host mounted, with origin "null", and answered only to
 *   that window; the widget id of a request is that iframe's (never one
 *   named in the message); sidecar requests carry the host's signed caller
 *   context (X-Widget-Context). Mount options:
 *     sidecar, widget, context (a token, or a function returning one or a
 *     promise of one), title: as before;
 *     minHeight, maxHeight: setHeight's bounds in px (default 40, 2000);
 *     readyTimeout: ms after which a widget that sent no ready, loaded or
 *       error signal is shown anyway (state 'timeout'; default 15000; 0:
 *       never), for widgets that do not call the lifecycle methods;
 *     onLifecycle(state, widget, detail): each onLoading/onReady/onLoaded/
 *       onError signal (detail {message} for an error that gave one), and
 *       'timeout' once when readyTimeout passed first;
 *     onAnalyticsEvent({widget, name, meta}): each accepted analytics event;
 *     onViewMode(mode, widget) -> boolean (or a promise of one): whether
 *       setViewMode was honoured (without it: false);
 *     appspaceApi: {name: function (args, widget) -> value or promise}:
 *       what callAppspaceAPI(name) answers (without an entry: 404).
 *   The container gets data-widgetgate-state (loading|ready|loaded|error|
 *   timeout), an empty .widgetgate-skeleton element until the first ready,
 *   loaded or error signal or the readyTimeout, and a .widgetgate-error element with the host's own text
 *   (never the widget's) while in the error state. mount() returns
 *   {frame, widget, state(), counts() -> {loading, ready, loaded, error,
 *   analytics}, unmount()}.
 *
 * Message protocol (postMessage, structured clone, target origin "*": the
 * frame's origin is opaque; the target window is fixed). Every message is
 * a plain object {widgetgate: 1, type, id, ...}; id matches
 * [A-Za-z0-9_-]{1,64}. The host refuses a request with any key not listed;
 * the widget ignores a 'ready' or 'reply' with one.
 *   widget -> host:
 *     {type: 'hello', id}                      the handshake (sent at most
 *                                              6 times, with backoff)
 *     {type: 'call', id, name, params}         callAuthenticatedAPI
 *     {type: 'getConfiguration', id}
 *     {type: 'getUserInfo', id}
 *     {type: 'setHeight', id, height}          a finite number (px)
 *     {type: 'lifecycle', id, state[, message]}  state loading|ready|
 *                                              loaded|error; message, for
 *                                              error only, <= 256 chars,
 *                                              goes to onLifecycle only
 *     {type: 'analytics', id, name[, meta]}    name [A-Za-z0-9_.:-]{1,64};
 *                                              meta <= 32 keys (<= 64
 *                                              chars) of strings, finite
 *                                              numbers, booleans; name and
 *                                              meta <= 4 KiB as JSON
 *     {type: 'navigate', id, url}              url <= 2048 chars (target
 *                                              is not sent: always a new
 *                                              top-level context)
 *     {type: 'setViewMode', id, mode}          mode [A-Za-z0-9_-]{1,64}
 *     {type: 'appspaceApi', id, name[, args]}  name as API names; args
 *                                              JSON-like, <= 64 KiB, 16 deep
 *   host -> widget:
 *     {type: 'ready', id}                      id: the hello's
 *     {type: 'result', id, result: {status, statusText, data[, cache[, age]]}}
 *                (answers 'call', and refuses unknown types;
 *                cache: the sidecar's Widgetgate-Cache header, one of miss, hit,
 *                coalesced, stale, bypass; age: a hit's or stale answer's Age, seconds)
 *                or {type: 'result', id, error: {code, message}}
 *     {type: 'reply', id, value} or {type: 'reply', id, error: {code, message}}
 *                (answers the other requests; value by request:
 *                getConfiguration {data: {configuration: {<field>: {value}}}},
 *                getUserInfo {displayName, email, language} (strings),
 *                setHeight the height applied (clamped, whole px),
 *                lifecycle and analytics null, navigate and setViewMode
 *                a boolean, appspaceApi {status, statusText, data})
 *   The widget takes replies only from win.parent, for a request still
 *   pending, shaped as that request's answer; anything else is ignored.
 *   getConfiguration and getUserInfo come from the sidecar's
 *   GET <sidecar>/widgets/{widget}/context (one fetch shared while in
 *   flight, never cached); a non-200 answer is an error with the
 *   problem's code. At most 32 requests per frame are in flight.
 *
 * Under Node (no window/document) the file exports its pure parts, for the
 * unit tests in widgetgate.test.mjs.
 */
(function () {
  'use strict';

  var KIT_VERSION = '1.2.0';
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
  var READY_EVENT = 'appspace:widgetapi:ready';
  // The hello is sent, then resent after each of these waits but the last;
  // after the last the widget gives up (waitForWidgetApi rejects).
  var HELLO_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000];
  var EVENT_NAME_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
  var VIEW_MODE_RE = /^[A-Za-z0-9_-]{1,64}$/;
  var MAX_EVENT_META = 32;
  var MAX_EVENT_KEY = 64;
  var MAX_EVENT_BYTES = 4096;
  var MAX_URL = 2048;
  var MAX_ERROR_TEXT = 256;
  var MAX_USER_FIELD = 1024;
  var MAX_STATUS_TEXT = 128;
  var MAX_REPLY_ERROR = 1024;
  var DEFAULT_MIN_HEIGHT = 40;
  var DEFAULT_MAX_HEIGHT = 2000;
  // A widget that has sent no ready, loaded or error signal this long
  // after mounting is shown as it is: widgets written before the
  // lifecycle calls existed never send one, and must not stay hidden
  // behind the skeleton. Just under the widget's own give-up time for
  // the handshake (the sum of HELLO_DELAYS_MS plus a reply timeout).
  var DEFAULT_READY_TIMEOUT_MS = 15000;
  var LIFECYCLE_STATES = ['loading', 'ready', 'loaded', 'error'];
  var ARGS_LIMITS = { maxBytes: 65536, maxDepth: 16, maxNodes: 4096 }; // what a widget sends
  var REPLY_LIMITS = { maxBytes: 1048576, maxDepth: 32, maxNodes: 65536 }; // what a widget is sent
  var ERROR_TEXT = 'This widget reported an error.';
  var BASE_KEYS = ['widgetgate', 'type', 'id'];
  // The keys each request type may have besides BASE_KEYS ('call' is
  // checked by parseCall).
  var REQUEST_KEYS = {
    hello: [],
    getConfiguration: [],
    getUserInfo: [],
    setHeight: ['height'],
    lifecycle: ['state', 'message'],
    analytics: ['name', 'meta'],
    navigate: ['url'],
    setViewMode: ['mode'],
    appspaceApi: ['name', 'args']
  };

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

  // onlyKeys reports whether obj's own keys are all in allowed.
  function onlyKeys(obj, allowed) {
    var keys = Object.keys(obj);
    for (var i = 0; i < keys.length; i++) {
      if (allowed.indexOf(keys[i]) < 0) return false;
    }
    return true;
  }

  // firstExtraKey returns obj's first own key not in allowed, or null.
  function firstExtraKey(obj, allowed) {
    var keys = Object.keys(obj);
    for (var i = 0; i < keys.length; i++) {
      if (allowed.indexOf(keys[i]) < 0) return keys[i];
    }
    return null;
  }

  // utf8Length is the length of s in UTF-8 bytes (a lone surrogate counts
  // as the 3 bytes of U+FFFD, as JSON.stringify and TextEncoder make it).
  function utf8Length(s) {
    var n = 0;
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++; }
      else n += 3;
    }
    return n;
  }

  function describe(v) {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'an array';
    if (typeof v === 'object') return Object.prototype.toString.call(v).slice(8, -1) || 'object';
    return typeof v;
  }

  // validateJson checks that value is JSON-like (null, booleans, finite
  // numbers, strings, arrays, plain objects) within limits {maxBytes (as
  // UTF-8 JSON), maxDepth, maxNodes} and returns a fresh copy: {value} or
  // {error}.
  function validateJson(value, limits) {
    var nodes = 0;
    function walk(v, depth) {
      if (++nodes > limits.maxNodes) throw new RangeError('too many values (at most ' + limits.maxNodes + ')');
      var t = typeof v;
      if (v === null || t === 'boolean' || t === 'string') return v;
      if (t === 'number') {
        if (!isFinite(v)) throw new TypeError('numbers must be finite');
        return v;
      }
      if (t === 'object' && depth >= limits.maxDepth) throw new RangeError('nested too deeply (at most ' + limits.maxDepth + ' levels)');
      if (Array.isArray(v)) {
        if (v.length > limits.maxNodes) throw new RangeError('too many values (at most ' + limits.maxNodes + ')');
        var a = [];
        for (var i = 0; i < v.length; i++) a.push(walk(v[i], depth + 1));
        return a;
      }
      if (isPlainObject(v)) {
        var keys = Object.keys(v);
        if (keys.length > limits.maxNodes) throw new RangeError('too many values (at most ' + limits.maxNodes + ')');
        var o = {};
        for (var j = 0; j < keys.length; j++) setOwn(o, keys[j], walk(v[keys[j]], depth + 1));
        return o;
      }
      throw new TypeError('only null, booleans, finite numbers, strings, arrays and plain objects can be sent, not ' + describe(v));
    }
    var copy;
    try {
      copy = walk(value, 0);
    } catch (e) {
      return { error: e.message };
    }
    var size = utf8Length(JSON.stringify(copy));
    if (size > limits.maxBytes) return { error: 'too large: ' + size + ' bytes as JSON (at most ' + limits.maxBytes + ')' };
    return { value: copy };
  }

  // checkAnalytics checks raiseAnalyticsEvent's arguments (both sides):
  // {name, meta} (meta a fresh copy, or undefined when none) or {error}.
  function checkAnalytics(name, meta) {
    var what = 'raiseAnalyticsEvent: ';
    if (typeof name !== 'string' || !EVENT_NAME_RE.test(name)) {
      return { error: what + 'the event name must be 1 to 64 letters, digits, "_", ".", ":" or "-"' };
    }
    var out;
    if (meta !== undefined && meta !== null) {
      if (!isPlainObject(meta)) return { error: what + 'meta must be a plain object of names to strings, numbers or booleans' };
      var keys = Object.keys(meta);
      if (keys.length > MAX_EVENT_META) return { error: what + 'too many meta entries: ' + keys.length + ' (at most ' + MAX_EVENT_META + ')' };
      out = {};
      for (var i = 0; i < keys.length; i++) {
        var k = keys[i];
        if (k.length === 0 || k.length > MAX_EVENT_KEY) return { error: what + 'meta names must be 1 to ' + MAX_EVENT_KEY + ' characters' };
        var v = meta[k];
        var t = typeof v;
        if (t === 'number' ? !isFinite(v) : t !== 'string' && t !== 'boolean') {
          return { error: what + 'meta ' + JSON.stringify(k) + ' must be a string, a finite number or a boolean, not ' + describe(v) };
        }
        setOwn(out, k, v);
      }
    }
    var size = utf8Length(JSON.stringify(out === undefined ? { name: name } : { name: name, meta: out }));
    if (size > MAX_EVENT_BYTES) return { error: what + 'the event is too large: ' + size + ' bytes as JSON (at most ' + MAX_EVENT_BYTES + ')' };
    return { name: name, meta: out };
  }

  // checkNavigateUrl returns the URL navigate may open, or null: only an
  // absolute http(s) URL with a host and no user name or password, written
  // without spaces or control characters.
  function checkNavigateUrl(url) {
    if (typeof url !== 'string' || url.length === 0 || url.length > MAX_URL) return null;
    if (!/^https?:\/\//i.test(url) || /[\u0000-\u0020\u007f]/.test(url)) return null;
    var u;
    try {
      u = new URL(url);
    } catch (e) {
      return null;
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname || u.username || u.password) return null;
    return u.href;
  }

  // clampHeight returns the height setHeight applies: px rounded and kept
  // within [min, max].
  function clampHeight(px, min, max) {
    return Math.round(Math.min(max, Math.max(min, px)));
  }

  // parseRequest checks any message received by the host, like parseCall
  // (which it uses for calls): null for messages that are not widgetgate's
  // or have no usable id; {id, type, error: {code, message}} for requests to
  // refuse (type 'unknown' for unknown types); else {id, type, ...fields}.
  function parseRequest(data) {
    if (!isPlainObject(data) || data.widgetgate !== PROTOCOL) return null;
    if (typeof data.id !== 'string' || !ID_RE.test(data.id)) return null;
    var id = data.id;
    var type = data.type;
    if (type === 'call') {
      var c = parseCall(data);
      c.type = 'call';
      return c;
    }
    if (typeof type !== 'string' || !own(REQUEST_KEYS, type)) {
      return { id: id, type: 'unknown', error: { code: 'invalid_message', message: 'unsupported message type' } };
    }
    function refuse(code, message) { return { id: id, type: type, error: { code: code, message: message } }; }
    var extra = firstExtraKey(data, BASE_KEYS.concat(REQUEST_KEYS[type]));
    if (extra !== null) return refuse('invalid_message', 'unexpected field ' + JSON.stringify(extra.slice(0, 64)) + ' in ' + type);
    switch (type) {
      case 'setHeight':
        if (typeof data.height !== 'number' || !isFinite(data.height)) return refuse('invalid_params', 'setHeight: the height must be a finite number of pixels');
        return { id: id, type: type, height: data.height };
      case 'lifecycle':
        if (LIFECYCLE_STATES.indexOf(data.state) < 0) return refuse('invalid_params', 'lifecycle: the state must be one of ' + LIFECYCLE_STATES.join(', '));
        if (own(data, 'message') && (data.state !== 'error' || typeof data.message !== 'string' || data.message.length > MAX_ERROR_TEXT)) {
          return refuse('invalid_params', 'lifecycle: a message is a string of at most ' + MAX_ERROR_TEXT + ' characters, with the error state only');
        }
        return own(data, 'message') ? { id: id, type: type, state: data.state, message: data.message } : { id: id, type: type, state: data.state };
      case 'analytics':
        var a = checkAnalytics(data.name, own(data, 'meta') ? data.meta : undefined);
        if (a.error) return refuse('invalid_params', a.error);
        return { id: id, type: type, name: a.name, meta: a.meta };
      case 'navigate':
        if (typeof data.url !== 'string' || data.url.length > MAX_URL) return refuse('invalid_params', 'navigate: the URL must be a string of at most ' + MAX_URL + ' characters');
        return { id: id, type: type, url: data.url };
      case 'setViewMode':
        if (typeof data.mode !== 'string' || !VIEW_MODE_RE.test(data.mode)) return refuse('invalid_params', 'setViewMode: the mode must be 1 to 64 letters, digits, "_" or "-"');
        return { id: id, type: type, mode: data.mode };
      case 'appspaceApi':
        if (typeof data.name !== 'string' || !NAME_RE.test(data.name)) return refuse('invalid_name', 'API names are 1 to 128 letters, digits, "_" or "-"');
        var args;
        if (own(data, 'args')) {
          var j = validateJson(data.args, ARGS_LIMITS);
          if (j.error) return refuse('invalid_params', 'callAppspaceAPI: args: ' + j.error);
          args = j.value;
        }
        return { id: id, type: type, name: data.name, args: args };
      default: // hello, getConfiguration, getUserInfo: nothing more
        return { id: id, type: type };
    }
  }

  // parseReady reports whether data is the host's answer to the hello helloId.
  function parseReady(data, helloId) {
    return isPlainObject(data) && onlyKeys(data, BASE_KEYS) && data.widgetgate === PROTOCOL &&
      data.type === 'ready' && data.id === helloId;
  }

  function isStatus(n) {
    return typeof n === 'number' && n % 1 === 0 && n >= 100 && n <= 599;
  }

  // checkReplyValue checks the value of the host's reply to a request of
  // type kind: {value} (a fresh copy) or null when it is not that request's
  // answer.
  function checkReplyValue(kind, v) {
    var j;
    switch (kind) {
      case 'getConfiguration':
        if (!isPlainObject(v) || !onlyKeys(v, ['data']) || !isPlainObject(v.data) || !onlyKeys(v.data, ['configuration'])) return null;
        var conf = v.data.configuration;
        if (!isPlainObject(conf)) return null;
        var names = Object.keys(conf);
        for (var i = 0; i < names.length; i++) {
          var e = conf[names[i]];
          if (!isPlainObject(e) || !own(e, 'value') || !onlyKeys(e, ['value'])) return null;
        }
        j = validateJson(v, REPLY_LIMITS);
        return j.error ? null : { value: j.value };
      case 'getUserInfo':
        if (!isPlainObject(v) || !onlyKeys(v, ['displayName', 'email', 'language'])) return null;
        if (typeof v.displayName !== 'string' || typeof v.email !== 'string' || typeof v.language !== 'string') return null;
        if (v.displayName.length > MAX_USER_FIELD || v.email.length > MAX_USER_FIELD || v.language.length > MAX_USER_FIELD) return null;
        return { value: { displayName: v.displayName, email: v.email, language: v.language } };
      case 'setHeight':
        return typeof v === 'number' && isFinite(v) ? { value: v } : null;
      case 'lifecycle':
      case 'analytics':
        return v === null ? { value: undefined } : null;
      case 'navigate':
      case 'setViewMode':
        return typeof v === 'boolean' ? { value: v } : null;
      case 'appspaceApi':
        if (!isPlainObject(v) || !onlyKeys(v, ['status', 'statusText', 'data']) || !own(v, 'data')) return null;
        if (!isStatus(v.status) || typeof v.statusText !== 'string' || v.statusText.length > MAX_STATUS_TEXT) return null;
        j = validateJson(v.data, REPLY_LIMITS);
        return j.error ? null : { value: { status: v.status, statusText: v.statusText, data: j.value } };
      default:
        return null;
    }
  }

  // parseMethodReply checks a 'reply' message received by the widget from
  // its parent, for a pending request of type kind: null unless it is a
  // well-formed answer to such a request; else {id, value} or {id, error}.
  function parseMethodReply(data, kind) {
    if (!isPlainObject(data) || data.widgetgate !== PROTOCOL || data.type !== 'reply') return null;
    if (typeof data.id !== 'string' || !ID_RE.test(data.id)) return null;
    if (!onlyKeys(data, ['widgetgate', 'type', 'id', 'value', 'error'])) return null;
    var hasValue = own(data, 'value');
    if (hasValue === own(data, 'error')) return null;
    if (!hasValue) {
      var e = data.error;
      if (!isPlainObject(e) || typeof e.message !== 'string') return null;
      return { id: data.id, error: { code: typeof e.code === 'string' ? e.code.slice(0, 64) : 'error', message: e.message.slice(0, MAX_REPLY_ERROR) } };
    }
    var v = checkReplyValue(kind, data.value);
    return v ? { id: data.id, value: v.value } : null;
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

  // createWidgetApi returns the frozen widget API for the window win (the
  // widget's). Answers are taken only from win.parent, well-formed, for a
  // request still pending and shaped as that request's answer. opts:
  // {timeoutMs, libraryUrl (getInfo's), setTimeout, clearTimeout}.
  function createWidgetApi(win, opts) {
    opts = opts || {};
    var timeoutMs = opts.timeoutMs || CALL_TIMEOUT_MS;
    var setTimer = opts.setTimeout || setTimeout;
    var clearTimer = opts.clearTimeout || clearTimeout;
    var libraryUrl = typeof opts.libraryUrl === 'string' ? opts.libraryUrl : '';
    var parent = win.parent;
    var prefix = randomHex(8);
    var seq = 0;
    var pending = new Map();

    win.addEventListener('message', function (event) {
      if (!parent || parent === win || event.source !== parent) return;
      var data = event.data;
      if (!isPlainObject(data)) return;
      var p = typeof data.id === 'string' ? pending.get(data.id) : undefined;
      if (!p) return;
      var reply = p.kind === 'call' ? parseReply(data) : parseMethodReply(data, p.kind);
      if (!reply || reply.id !== data.id) return;
      pending.delete(reply.id);
      clearTimer(p.timer);
      if (reply.error) {
        var err = new Error(p.label + ' failed: ' + reply.error.message);
        err.code = reply.error.code;
        p.reject(err);
      } else {
        p.resolve(p.kind === 'call' ? reply.result : reply.value);
      }
    });

    // send posts {widgetgate, type: kind, id, ...fields} to the parent and
    // returns a promise of its answer. label names the call in errors.
    function send(kind, label, fields) {
      return new Promise(function (resolve, reject) {
        if (!parent || parent === win) {
          reject(new Error(label + ': this widget is not running inside a widgetgate host page'));
          return;
        }
        var id = 'c' + prefix + '-' + (++seq);
        var msg = { widgetgate: PROTOCOL, type: kind, id: id };
        var keys = Object.keys(fields);
        for (var i = 0; i < keys.length; i++) {
          if (fields[keys[i]] !== undefined) msg[keys[i]] = fields[keys[i]];
        }
        var timer = setTimer(function () {
          if (pending.delete(id)) {
            reject(new Error(label + ' timed out after ' + Math.round(timeoutMs / 1000) + ' s'));
          }
        }, timeoutMs);
        pending.set(id, { kind: kind, label: label, resolve: resolve, reject: reject, timer: timer });
        try {
          parent.postMessage(msg, '*');
        } catch (e) {
          pending.delete(id);
          clearTimer(timer);
          reject(e);
        }
      });
    }

    function refuse(message) {
      return Promise.reject(new TypeError(message));
    }

    function callAuthenticatedAPI(name, options) {
      var call = checkCallArgs(name, options);
      if (call.error) return refuse(call.error);
      return send('call', 'callAuthenticatedAPI(' + JSON.stringify(call.name) + ')', { name: call.name, params: call.params });
    }

    function getConfiguration() {
      return send('getConfiguration', 'getConfiguration()', {});
    }

    function getUserInfo() {
      return send('getUserInfo', 'getUserInfo()', {});
    }

    // getInfo is answered here: the kit's version and where it was loaded from.
    function getInfo() {
      return Promise.resolve({ version: KIT_VERSION, libraryUrl: libraryUrl });
    }

    function setHeight(px) {
      if (typeof px !== 'number' || !isFinite(px)) return refuse('setHeight: the height must be a finite number of pixels');
      return send('setHeight', 'setHeight()', { height: px });
    }

    function lifecycle(state, message) {
      return send('lifecycle', 'on' + state.charAt(0).toUpperCase() + state.slice(1) + '()', { state: state, message: message });
    }

    // onError takes an optional message (a string, or an Error's message),
    // which only the host's code sees.
    function onError(error) {
      var message = typeof error === 'string' ? error : error && typeof error.message === 'string' ? error.message : undefined;
      return lifecycle('error', message === undefined ? undefined : message.slice(0, MAX_ERROR_TEXT));
    }

    function raiseAnalyticsEvent(name, meta) {
      var a = checkAnalytics(name, meta);
      if (a.error) return refuse(a.error);
      return send('analytics', 'raiseAnalyticsEvent(' + JSON.stringify(a.name) + ')', { name: a.name, meta: a.meta });
    }

    // navigate asks the host to open url in a new top-level browsing
    // context; target is not sent (the host decides where, always a new one).
    function navigate(url) {
      if (typeof url !== 'string' || url.length === 0 || url.length > MAX_URL) return refuse('navigate: the URL must be a string of 1 to ' + MAX_URL + ' characters');
      return send('navigate', 'navigate()', { url: url });
    }

    function setViewMode(mode) {
      if (typeof mode !== 'string' || !VIEW_MODE_RE.test(mode)) return refuse('setViewMode: the mode must be 1 to 64 letters, digits, "_" or "-"');
      return send('setViewMode', 'setViewMode(' + JSON.stringify(mode) + ')', { mode: mode });
    }

    function callAppspaceAPI(name, args) {
      if (typeof name !== 'string' || !NAME_RE.test(name)) return refuse('callAppspaceAPI: the API name must be 1 to 128 letters, digits, "_" or "-"');
      var copy;
      if (args !== undefined) {
        var j = validateJson(args, ARGS_LIMITS);
        if (j.error) return refuse('callAppspaceAPI: args: ' + j.error);
        copy = j.value;
      }
      return send('appspaceApi', 'callAppspaceAPI(' + JSON.stringify(name) + ')', { name: name, args: copy });
    }

    return Object.freeze({
      callAuthenticatedAPI: callAuthenticatedAPI,
      getConfiguration: getConfiguration,
      getUserInfo: getUserInfo,
      getInfo: getInfo,
      setHeight: setHeight,
      onReady: function () { return lifecycle('ready'); },
      onLoading: function () { return lifecycle('loading'); },
      onLoaded: function () { return lifecycle('loaded'); },
      onError: onError,
      raiseAnalyticsEvent: raiseAnalyticsEvent,
      navigate: navigate,
      setViewMode: setViewMode,
      callAppspaceAPI: callAppspaceAPI
    });
  }

  // installWidget defines window.appspace.waitForWidgetApi and runs the
  // handshake: a hello to win.parent, resent after each of opts.helloDelays
  // (HELLO_DELAYS_MS) but the last, until the parent answers it with
  // 'ready'. Then, once: window.appspace.widgetApi is set, the ready event
  // is dispatched on win, and waitForWidgetApi's promise resolves with the
  // API. With no parent, or no answer after the last wait, it rejects (an
  // Error with code no_host). opts as createWidgetApi's, plus helloDelays.
  function installWidget(win, opts) {
    opts = opts || {};
    var setTimer = opts.setTimeout || setTimeout;
    var clearTimer = opts.clearTimeout || clearTimeout;
    var delays = opts.helloDelays || HELLO_DELAYS_MS;
    var api = createWidgetApi(win, opts);
    var parent = win.parent;
    var helloId = 'h' + randomHex(8);
    var state = 'waiting';
    var timer = null;
    var sent = 0;
    var resolveReady, rejectReady;
    var ready = new Promise(function (resolve, reject) { resolveReady = resolve; rejectReady = reject; });
    ready.catch(function () {}); // a widget that never asks is not an unhandled rejection

    var appspace = win.appspace !== null && typeof win.appspace === 'object' ? win.appspace : {};
    win.appspace = appspace;
    appspace.waitForWidgetApi = function () { return ready; };

    function stop() {
      if (timer !== null) clearTimer(timer);
      timer = null;
      if (typeof win.removeEventListener === 'function') win.removeEventListener('message', onMessage);
    }

    function onMessage(event) {
      if (state !== 'waiting' || event.source !== parent || !parseReady(event.data, helloId)) return;
      state = 'ready';
      stop();
      appspace.widgetApi = api;
      if (typeof win.dispatchEvent === 'function') {
        var Ev = win.CustomEvent || (typeof CustomEvent === 'function' ? CustomEvent : null);
        if (Ev) win.dispatchEvent(new Ev(READY_EVENT, { detail: api }));
      }
      resolveReady(api);
    }

    function fail(message) {
      state = 'failed';
      stop();
      var err = new Error('waitForWidgetApi: ' + message);
      err.code = 'no_host';
      rejectReady(err);
    }

    function hello() {
      timer = null;
      if (state !== 'waiting') return;
      if (sent >= delays.length) {
        fail('no widgetgate host answered (' + sent + ' attempts)');
        return;
      }
      // Armed first: an answer, however soon it comes, finds it to clear.
      timer = setTimer(hello, delays[sent++]);
      try {
        parent.postMessage({ widgetgate: PROTOCOL, type: 'hello', id: helloId }, '*');
      } catch (e) {
        fail('cannot reach the host page: ' + (e && e.message ? e.message : String(e)));
      }
    }

    if (!parent || parent === win) {
      fail('this widget is not running inside a widgetgate host page');
    } else {
      win.addEventListener('message', onMessage);
      hello();
    }
    return { waitForWidgetApi: appspace.waitForWidgetApi };
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

  function isFn(v) {
    return typeof v === 'function';
  }

  function errorWith(code, message) {
    var e = new Error(message);
    e.code = code;
    return e;
  }

  // problemError makes an Error of a sidecar's non-success answer, with
  // .code its problem's code (or http_<status>).
  function problemError(status, data) {
    var code = data && typeof data.code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(data.code) ? data.code : 'http_' + status;
    var message = data && typeof data.message === 'string' ? data.message.slice(0, 512) : 'the sidecar answered HTTP ' + status;
    var e = errorWith(code, message);
    e.status = status;
    return e;
  }

  // createBridge holds the mounted widgets of one host window and answers
  // their messages. deps: {fetch, now, contextHeader, warn, open (the
  // host's window.open)}.
  function createBridge(deps) {
    deps = deps || {};
    var fetchImpl = deps.fetch;
    var now = deps.now || Date.now;
    var contextHeader = deps.contextHeader || 'X-Widget-Context';
    var warn = deps.warn || function () {};
    var openWindow = deps.open;
    var mounts = [];

    // register adds a widget frame: {frame (an iframe, or anything with a
    // contentWindow and optionally a style), widget, sidecar, context,
    // minHeight, maxHeight, onLifecycle, onAnalyticsEvent, onViewMode,
    // appspaceApi}. It returns the mount.
    function register(spec) {
      if (typeof spec.widget !== 'string' || !WIDGET_RE.test(spec.widget)) throw new TypeError('WidgetGate.mount: invalid widget id ' + JSON.stringify(spec.widget));
      if (typeof spec.sidecar !== 'string' || spec.sidecar === '') throw new TypeError('WidgetGate.mount: sidecar URL is required');
      var minHeight = spec.minHeight === undefined ? DEFAULT_MIN_HEIGHT : spec.minHeight;
      var maxHeight = spec.maxHeight === undefined ? DEFAULT_MAX_HEIGHT : spec.maxHeight;
      if (typeof minHeight !== 'number' || typeof maxHeight !== 'number' || !isFinite(minHeight) || !isFinite(maxHeight) ||
          minHeight < 0 || minHeight > maxHeight) {
        throw new TypeError('WidgetGate.mount: minHeight and maxHeight must be numbers with 0 <= minHeight <= maxHeight');
      }
      ['onLifecycle', 'onAnalyticsEvent', 'onViewMode'].forEach(function (k) {
        if (spec[k] !== undefined && !isFn(spec[k])) throw new TypeError('WidgetGate.mount: ' + k + ' must be a function');
      });
      var handlers = new Map();
      if (spec.appspaceApi !== undefined) {
        if (!isPlainObject(spec.appspaceApi)) throw new TypeError('WidgetGate.mount: appspaceApi must be an object of names to functions');
        Object.keys(spec.appspaceApi).forEach(function (name) {
          if (!NAME_RE.test(name) || !isFn(spec.appspaceApi[name])) throw new TypeError('WidgetGate.mount: appspaceApi.' + name + ' must be a function named with 1 to 128 letters, digits, "_" or "-"');
          handlers.set(name, spec.appspaceApi[name]);
        });
      }
      var tally = { loading: 0, ready: 0, loaded: 0, error: 0, analytics: 0 };
      var m = {
        frame: spec.frame,
        widget: spec.widget,
        sidecar: spec.sidecar.replace(/\/+$/, ''),
        tokens: tokenSource(spec.context, now),
        inFlight: 0,
        minHeight: minHeight,
        maxHeight: maxHeight,
        onLifecycle: spec.onLifecycle,
        onAnalyticsEvent: spec.onAnalyticsEvent,
        onViewMode: spec.onViewMode,
        handlers: handlers,
        tally: tally,
        state: 'loading',
        contextInFlight: null,
        counts: function () {
          return { loading: tally.loading, ready: tally.ready, loaded: tally.loaded, error: tally.error, analytics: tally.analytics };
        }
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

    // post sends msg to the frame that asked, if it is still mounted and
    // still holds the same window. The frame's origin is opaque ("null"),
    // so "*" is the only target origin that reaches it; the target window
    // itself is fixed.
    function post(m, source, msg) {
      if (mounts.indexOf(m) < 0 || m.frame.contentWindow !== source) return;
      source.postMessage(msg, '*');
    }

    // answer posts a 'result' (the answer to a call): body {result} or {error}.
    function answer(m, source, id, body) {
      var msg = { widgetgate: PROTOCOL, type: 'result', id: id };
      if (body.error) msg.error = body.error; else msg.result = body.result;
      post(m, source, msg);
    }

    // reply posts a 'reply' (the answer to any other request): body {value} or {error}.
    function reply(m, source, id, body) {
      var msg = { widgetgate: PROTOCOL, type: 'reply', id: id };
      if (body.error) msg.error = body.error; else msg.value = body.value;
      post(m, source, msg);
    }

    // callback calls one of the host's options; what it throws is logged,
    // never sent to the widget.
    function callback(m, fn, args) {
      if (!fn) return undefined;
      try {
        return fn.apply(null, args);
      } catch (e) {
        warn('widgetgate: a host callback for widget ' + m.widget + ' failed: ' + (e && e.message ? e.message : String(e)));
        return undefined;
      }
    }

    function tokenError(err) {
      return errorWith('context_unavailable', 'no caller context: ' + (err && err.message ? err.message : String(err)));
    }

    // readBody reads a sidecar answer: JSON when it says so, else text.
    function readBody(res) {
      return res.text().then(function (text) {
        var ct = (res.headers && res.headers.get && res.headers.get('Content-Type')) || '';
        if (/json/i.test(ct)) {
          try { return JSON.parse(text); } catch (e) { return text; }
        }
        return text;
      });
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
          return readBody(res).then(function (data) {
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
        throw tokenError(err);
      });
    }

    // contextFetch GETs the mount's /context: the parsed body of a 200, or
    // an Error with the problem's code.
    function contextFetch(m, retried) {
      return m.tokens.get().then(function (t) {
        var headers = {};
        headers[contextHeader] = t.token;
        return fetchImpl(m.sidecar + '/widgets/' + encodeURIComponent(m.widget) + '/context', {
          method: 'GET',
          mode: 'cors',
          credentials: 'omit',
          cache: 'no-store',
          referrerPolicy: 'no-referrer',
          headers: headers
        }).then(function (res) {
          return readBody(res).then(function (data) {
            if (res.status === 401 && !t.fresh && !retried && data && data.code === 'invalid_caller_context') {
              m.tokens.invalidate();
              return contextFetch(m, true);
            }
            if (res.status !== 200) throw problemError(res.status, data);
            if (!isPlainObject(data)) throw errorWith('invalid_context', 'the sidecar\'s /context answer is not a JSON object');
            return data;
          });
        });
      }, function (err) {
        throw tokenError(err);
      });
    }

    // loadContext shares one /context fetch among the requests of a mount
    // that arrive while it is in flight; nothing is kept after it.
    function loadContext(m) {
      if (!m.contextInFlight) {
        m.contextInFlight = contextFetch(m, false).then(function (body) {
          m.contextInFlight = null;
          return body;
        }, function (err) {
          m.contextInFlight = null;
          throw err;
        });
      }
      return m.contextInFlight;
    }

    function configurationOf(body) {
      var conf = body.configuration;
      if (!isPlainObject(conf)) throw errorWith('invalid_context', 'the sidecar\'s /context answer has no configuration');
      var out = {};
      Object.keys(conf).forEach(function (name) {
        var e = conf[name];
        setOwn(out, name, { value: isPlainObject(e) && own(e, 'value') && e.value !== undefined ? e.value : null });
      });
      var j = validateJson({ data: { configuration: out } }, REPLY_LIMITS);
      if (j.error) throw errorWith('invalid_context', 'the configuration cannot be sent: ' + j.error);
      return j.value;
    }

    function userOf(body) {
      var u = isPlainObject(body.user) ? body.user : {};
      var str = function (v) { return typeof v === 'string' ? v.slice(0, MAX_USER_FIELD) : ''; };
      return { displayName: str(u.displayName), email: str(u.email), language: str(u.language) };
    }

    var SERVER_ERROR = { status: 500, statusText: 'Internal Server Error', data: null };

    function appspaceApi(m, req) {
      var fn = m.handlers.get(req.name);
      if (!fn) return { status: 404, statusText: 'Not Found', data: null };
      return Promise.resolve().then(function () { return fn(req.args, m.widget); }).then(function (value) {
        var j = validateJson(value === undefined ? null : value, REPLY_LIMITS);
        if (j.error) {
          warn('widgetgate: appspaceApi.' + req.name + ' returned a value that cannot be sent to widget ' + m.widget + ': ' + j.error);
          return SERVER_ERROR;
        }
        return { status: 200, statusText: 'OK', data: j.value };
      }, function (err) {
        warn('widgetgate: appspaceApi.' + req.name + ' failed for widget ' + m.widget + ': ' + (err && err.message ? err.message : String(err)));
        return SERVER_ERROR;
      });
    }

    // perform does what a checked request asks: its answer's value (or a
    // promise of it).
    function perform(m, req) {
      switch (req.type) {
        case 'call':
          return sidecarCall(m, req, false);
        case 'getConfiguration':
          return loadContext(m).then(configurationOf);
        case 'getUserInfo':
          return loadContext(m).then(userOf);
        case 'setHeight':
          var h = clampHeight(req.height, m.minHeight, m.maxHeight);
          if (m.frame.style) m.frame.style.height = h + 'px';
          // For the host page's CSS: the frame has a height of its own now.
          if (m.frame.setAttribute) m.frame.setAttribute('data-widgetgate-height', String(h));
          return h;
        case 'lifecycle':
          m.tally[req.state]++;
          m.state = req.state;
          callback(m, m.onLifecycle, [req.state, m.widget, req.message === undefined ? undefined : { message: req.message }]);
          return null;
        case 'analytics':
          m.tally.analytics++;
          callback(m, m.onAnalyticsEvent, [{ widget: m.widget, name: req.name, meta: req.meta || {} }]);
          return null;
        case 'navigate':
          var href = checkNavigateUrl(req.url);
          if (!href || !openWindow) {
            if (!href) warn('widgetgate: widget ' + m.widget + ' asked to open a URL that is not an absolute http(s) URL; refused');
            return false;
          }
          try {
            openWindow(href, '_blank', 'noopener,noreferrer');
            return true;
          } catch (e) {
            return false;
          }
        case 'setViewMode':
          if (!m.onViewMode) return false;
          return Promise.resolve().then(function () { return m.onViewMode(req.mode, m.widget); })
            .then(function (ok) { return ok === true; }, function () { return false; });
        case 'appspaceApi':
          return appspaceApi(m, req);
      }
      throw errorWith('invalid_message', 'unsupported message type');
    }

    // handleMessage is the host window's message listener. It returns a
    // promise that settles (true) once the message has been answered, or
    // false for messages that are not ours to answer.
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
      var req = parseRequest(event.data);
      if (!req) return Promise.resolve(false);
      if (req.type === 'hello') {
        if (req.error) {
          warn('widgetgate: ignored a bad hello from widget ' + m.widget + ': ' + req.error.message);
          return Promise.resolve(false);
        }
        post(m, source, { widgetgate: PROTOCOL, type: 'ready', id: req.id });
        return Promise.resolve(true);
      }
      var respond = req.type === 'call' || req.type === 'unknown' ? answer : reply;
      var ok = req.type === 'call' ? function (v) { return { result: v }; } : function (v) { return { value: v }; };
      if (req.error) {
        warn('widgetgate: refused a message from widget ' + m.widget + ': ' + req.error.message);
        respond(m, source, req.id, { error: req.error });
        return Promise.resolve(true);
      }
      if (m.inFlight >= MAX_IN_FLIGHT) {
        respond(m, source, req.id, { error: { code: 'too_many_calls', message: 'too many calls in flight (at most ' + MAX_IN_FLIGHT + ')' } });
        return Promise.resolve(true);
      }
      var fallback = req.type === 'call' || req.type === 'getConfiguration' || req.type === 'getUserInfo' ? 'network_error' : 'host_error';
      m.inFlight++;
      return Promise.resolve().then(function () { return perform(m, req); }).then(function (value) {
        m.inFlight--;
        respond(m, source, req.id, ok(value));
        return true;
      }, function (err) {
        m.inFlight--;
        respond(m, source, req.id, { error: { code: err && err.code || fallback, message: err && err.message ? String(err.message).slice(0, MAX_REPLY_ERROR) : 'the request failed' } });
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
          open: function (url, target, features) { return win.open(url, target, features); },
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
      var userLifecycle = options.onLifecycle;
      if (userLifecycle !== undefined && !isFn(userLifecycle)) throw new TypeError('WidgetGate.mount: onLifecycle must be a function');
      var readyTimeout = options.readyTimeout === undefined ? DEFAULT_READY_TIMEOUT_MS : options.readyTimeout;
      if (typeof readyTimeout !== 'number' || !isFinite(readyTimeout) || readyTimeout < 0) {
        throw new TypeError('WidgetGate.mount: readyTimeout must be a number of milliseconds, 0 or more');
      }
      var revealTimer = null;
      function settled() {
        if (revealTimer === null) return;
        win.clearTimeout(revealTimer);
        revealTimer = null;
      }
      var frame = doc.createElement('iframe');
      var skeleton = doc.createElement('div');
      var errorBox = null;

      // render shows a lifecycle state: the skeleton until the first ready,
      // loaded or error; the host's own error text (never the widget's)
      // while in the error state.
      function render(state) {
        el.setAttribute('data-widgetgate-state', state);
        if (state === 'loading') return;
        if (skeleton.parentNode) skeleton.parentNode.removeChild(skeleton);
        el.removeAttribute('aria-busy');
        if (state === 'error') {
          if (!errorBox) {
            errorBox = doc.createElement('div');
            errorBox.className = 'widgetgate-error';
            errorBox.setAttribute('role', 'alert');
            errorBox.textContent = ERROR_TEXT;
          }
          if (!errorBox.parentNode) el.appendChild(errorBox);
        } else if (errorBox && errorBox.parentNode) {
          errorBox.parentNode.removeChild(errorBox);
        }
      }

      var m = getBridge().register({
        frame: frame,
        widget: options.widget,
        sidecar: sidecar,
        context: options.context,
        minHeight: options.minHeight,
        maxHeight: options.maxHeight,
        onAnalyticsEvent: options.onAnalyticsEvent,
        onViewMode: options.onViewMode,
        appspaceApi: options.appspaceApi,
        onLifecycle: function (state, widget, detail) {
          if (state !== 'loading') settled();
          render(state);
          if (userLifecycle) userLifecycle(state, widget, detail);
        }
      });
      frame.setAttribute('sandbox', 'allow-scripts');
      frame.setAttribute('referrerpolicy', 'no-referrer');
      frame.setAttribute('title', String(options.title || options.widget));
      frame.setAttribute('data-widgetgate-widget', options.widget);
      frame.className = 'widgetgate-frame';
      frame.style.border = '0';
      frame.style.width = '100%';
      frame.style.height = '100%';
      frame.src = m.sidecar + '/widgets/' + encodeURIComponent(options.widget) + '/widget.html';
      skeleton.className = 'widgetgate-skeleton';
      skeleton.setAttribute('aria-hidden', 'true');
      el.setAttribute('data-widgetgate-state', 'loading');
      el.setAttribute('aria-busy', 'true');
      el.appendChild(frame);
      el.appendChild(skeleton);
      if (readyTimeout > 0) {
        revealTimer = win.setTimeout(function () {
          revealTimer = null;
          m.state = 'timeout';
          render('timeout');
          if (userLifecycle) userLifecycle('timeout', m.widget, undefined);
        }, readyTimeout);
      }
      return {
        frame: frame,
        widget: options.widget,
        state: function () { return m.state; },
        counts: function () { return m.counts(); },
        unmount: function () {
          settled();
          getBridge().unregister(m);
          [frame, skeleton, errorBox].forEach(function (node) {
            if (node && node.parentNode) node.parentNode.removeChild(node);
          });
          el.removeAttribute('data-widgetgate-state');
          el.removeAttribute('aria-busy');
        }
      };
    }

    win.WidgetGate = { version: PROTOCOL, kitVersion: KIT_VERSION, mount: mount };
  }

  var kit = {
    KIT_VERSION: KIT_VERSION,
    PROTOCOL: PROTOCOL,
    CALL_TIMEOUT_MS: CALL_TIMEOUT_MS,
    MAX_PARAMS: MAX_PARAMS,
    MAX_IN_FLIGHT: MAX_IN_FLIGHT,
    ONLY_PARAMS: ONLY_PARAMS,
    READY_EVENT: READY_EVENT,
    HELLO_DELAYS_MS: HELLO_DELAYS_MS,
    DEFAULT_MIN_HEIGHT: DEFAULT_MIN_HEIGHT,
    DEFAULT_MAX_HEIGHT: DEFAULT_MAX_HEIGHT,
    DEFAULT_READY_TIMEOUT_MS: DEFAULT_READY_TIMEOUT_MS,
    ARGS_LIMITS: ARGS_LIMITS,
    REPLY_LIMITS: REPLY_LIMITS,
    ERROR_TEXT: ERROR_TEXT,
    isPlainObject: isPlainObject,
    utf8Length: utf8Length,
    validateParams: validateParams,
    validateJson: validateJson,
    checkCallArgs: checkCallArgs,
    checkAnalytics: checkAnalytics,
    checkNavigateUrl: checkNavigateUrl,
    clampHeight: clampHeight,
    parseCall: parseCall,
    parseRequest: parseRequest,
    parseReply: parseReply,
    parseMethodReply: parseMethodReply,
    parseReady: parseReady,
    checkReplyValue: checkReplyValue,
    withCache: withCache,
    jwtExpiry: jwtExpiry,
    tokenSource: tokenSource,
    createWidgetApi: createWidgetApi,
    installWidget: installWidget,
    createBridge: createBridge,
    installHost: installHost
  };

  if (typeof window !== 'undefined' && typeof document !== 'undefined') {
    var script = document.currentScript;
    if (script && script.getAttribute('data-widgetgate-role') === 'widget') {
      installWidget(window, { libraryUrl: script.src });
    } else {
      installHost(window);
    }
  } else if (typeof module === 'object' && module !== null && module.exports) {
    module.exports = kit;
  }
})();
