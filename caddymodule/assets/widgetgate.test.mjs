// Unit tests of widgetgate.js's bridge: message validation on both sides,
// source checks, what the host sends to the sidecar, the handshake and the
// rest of the widget API (lifecycle, analytics, navigation, heights,
// configuration, Appspace APIs), and the host's mount UI on a fake DOM.
// Run: node --test caddymodule/assets/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const kit = require('./widgetgate.js');

const call = (over = {}) => ({ widgetgate: 1, type: 'call', id: 'c1-1', name: 'getCalendarEvents', params: { maxResults: '3' }, ...over });

// ---- host side: parseCall ---------------------------------------------------

test('a good call parses into id, name and a copy of the params', () => {
  const params = { maxResults: 3, orderBy: 'startTime', singleEvents: true };
  const got = kit.parseCall(call({ params }));
  assert.deepEqual(got, { id: 'c1-1', name: 'getCalendarEvents', params });
  assert.notEqual(got.params, params, 'params are copied');
  assert.deepEqual(kit.parseCall(call({ params: undefined })).params, {});
  const noParams = call();
  delete noParams.params;
  assert.deepEqual(kit.parseCall(noParams).params, {});
});

test('API names outside [A-Za-z0-9_-]{1,128} are refused with an error result', () => {
  for (const name of ['', 'get events', '../admin', 'a/b', 'x'.repeat(129), 42, null, 'getÉvents']) {
    const got = kit.parseCall(call({ name }));
    assert.equal(got.id, 'c1-1');
    assert.equal(got.error?.code, 'invalid_name', `name ${JSON.stringify(name)}`);
  }
  assert.equal(kit.parseCall(call({ name: 'a'.repeat(128) })).name, 'a'.repeat(128));
});

test('params must be a flat object of strings, finite numbers and booleans', () => {
  const bad = [
    { nested: { a: 1 } },
    { list: ['a', 'b'] },
    { nothing: null },
    { undef: undefined },
    { nan: NaN },
    { inf: Infinity },
    { big: 10n },
    { fn: () => 1 },
    ['a'],
    'maxResults=3',
    new Date(),
    new Map([['a', 1]]),
  ];
  for (const [i, params] of bad.entries()) {
    const got = kit.parseCall(call({ params }));
    assert.equal(got.error?.code, 'invalid_params', `bad params #${i}`);
  }
});

test('oversize calls are refused: too many params, too long names or values', () => {
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => ['p' + i, 'v']));
  assert.equal(kit.parseCall(call({ params: many })).error?.code, 'invalid_params');
  delete many.p64;
  assert.equal(Object.keys(kit.parseCall(call({ params: many })).params).length, 64);
  assert.equal(kit.parseCall(call({ params: { ['n'.repeat(257)]: 'v' } })).error?.code, 'invalid_params');
  assert.equal(kit.parseCall(call({ params: { '': 'v' } })).error?.code, 'invalid_params');
  assert.equal(kit.parseCall(call({ params: { v: 'x'.repeat(65537) } })).error?.code, 'invalid_params');
});

test('a call naming a widget, an instance, a URL or anything else is refused', () => {
  for (const extra of [{ widget: 'calendar' }, { instance: 'lobby' }, { url: 'http://evil/' }, { method: 'DELETE' }, { headers: {} }, { context: 'x' }]) {
    const got = kit.parseCall(call(extra));
    assert.equal(got.error?.code, 'invalid_message', JSON.stringify(extra));
  }
  assert.equal(kit.parseCall(call({ type: 'result' })).error?.code, 'invalid_message');
});

test('messages that are not widgetgate calls, or have no usable id, are ignored', () => {
  for (const data of [null, 'call', 42, [], { type: 'call' }, call({ widgetgate: 2 }), call({ widgetgate: '1' }),
    call({ id: '' }), call({ id: 7 }), call({ id: 'x'.repeat(65) }), call({ id: 'a b' })]) {
    assert.equal(kit.parseCall(data), null, JSON.stringify(data));
  }
});

test('a "__proto__" param stays a plain param', () => {
  const params = JSON.parse('{"__proto__": "x", "a": "1"}');
  const got = kit.parseCall(call({ params }));
  assert.equal(Object.getPrototypeOf(got.params), Object.prototype);
  assert.equal(JSON.stringify({ params: got.params }), '{"params":{"__proto__":"x","a":"1"}}');
});

// ---- widget side: checkCallArgs and parseReply --------------------------------

test('callAuthenticatedAPI options: only params', () => {
  assert.deepEqual(kit.checkCallArgs('getData', { params: { limit: '50' } }), { name: 'getData', params: { limit: '50' } });
  assert.deepEqual(kit.checkCallArgs('getData'), { name: 'getData', params: {} });
  assert.deepEqual(kit.checkCallArgs('getData', {}), { name: 'getData', params: {} });
  for (const options of [{ method: 'DELETE' }, { headers: { Authorization: 'x' } }, { body: '{}' }, { url: 'http://x' },
    { params: {}, method: 'POST' }]) {
    const got = kit.checkCallArgs('getData', options);
    assert.match(got.error, /accepts only params; method, headers and body are defined in the widget's schema/, JSON.stringify(options));
  }
  assert.match(kit.checkCallArgs('getData', { method: 'DELETE', body: 'x' }).error, /\(got method, body\)$/);
  assert.match(kit.checkCallArgs('getData', 'limit=5').error, /accepts only params/);
  assert.match(kit.checkCallArgs('get data', {}).error, /API name/);
  assert.match(kit.checkCallArgs('getData', { params: { a: { b: 1 } } }).error, /must be a string, a number or a boolean/);
});

test('parseReply accepts only well-formed answers', () => {
  const ok = { widgetgate: 1, type: 'result', id: 'c1-1', result: { status: 200, statusText: 'OK', data: { isSuccess: true } } };
  assert.deepEqual(kit.parseReply(ok), { id: 'c1-1', result: ok.result });
  const err = { widgetgate: 1, type: 'result', id: 'c1-1', error: { code: 'invalid_name', message: 'no' } };
  assert.deepEqual(kit.parseReply(err), { id: 'c1-1', error: { code: 'invalid_name', message: 'no' } });
  for (const data of [
    { ...ok, type: 'call' },
    { ...ok, widgetgate: 0 },
    { ...ok, id: 1 },
    { ...ok, error: { message: 'x' } }, // both
    { widgetgate: 1, type: 'result', id: 'c1-1' }, // neither
    { ...ok, result: { status: '200', statusText: 'OK', data: 1 } },
    { ...ok, result: { status: 200.5, statusText: 'OK', data: 1 } },
    { ...ok, result: { status: 200, data: 1 } },
    { ...ok, result: { status: 200, statusText: 'OK' } },
    { ...err, error: 'boom' },
    null, 'result',
  ]) {
    assert.equal(kit.parseReply(data), null, JSON.stringify(data));
  }
});

test('parseReply keeps where the answer came from, when it is well-formed', () => {
  const reply = (extra) => kit.parseReply({ widgetgate: 1, type: 'result', id: 'c1', result: { status: 200, statusText: 'OK', data: 1, ...extra } });
  assert.deepEqual(reply({ cache: 'hit', age: 12 }).result, { status: 200, statusText: 'OK', data: 1, cache: 'hit', age: 12 });
  assert.deepEqual(reply({ cache: 'coalesced' }).result, { status: 200, statusText: 'OK', data: 1, cache: 'coalesced' });
  for (const extra of [{ cache: 'HIT' }, { cache: 'evil', age: 1 }, { cache: 1 }, { age: 3 }]) {
    assert.deepEqual(reply(extra).result, { status: 200, statusText: 'OK', data: 1 }, JSON.stringify(extra));
  }
  for (const age of [-1, 1.5, '12abc', '1e3', { n: 1 }]) {
    assert.deepEqual(reply({ cache: 'stale', age }).result, { status: 200, statusText: 'OK', data: 1, cache: 'stale' }, JSON.stringify(age));
  }
});

// ---- widget side: createWidgetApi with a fake window ----------------------------

function fakeWidgetWindow() {
  const listeners = [];
  const parent = { sent: [], postMessage(msg, target) { this.sent.push({ msg: structuredClone(msg), target }); } };
  const win = {
    parent,
    addEventListener(type, fn) { if (type === 'message') listeners.push(fn); },
    deliver(source, data) { for (const fn of listeners) fn({ source, data, origin: 'http://host.example' }); },
  };
  return win;
}

const settled = async (p) => {
  let state = 'pending';
  p.then(() => { state = 'resolved'; }, () => { state = 'rejected'; });
  await new Promise((r) => setImmediate(r));
  return state;
};

test('widget: a call is posted to the parent and resolved by the parent\'s answer', async () => {
  const win = fakeWidgetWindow();
  const api = kit.createWidgetApi(win);
  const p = api.callAuthenticatedAPI('getData', { params: { limit: '50' } });
  assert.equal(win.parent.sent.length, 1);
  const { msg, target } = win.parent.sent[0];
  assert.equal(target, '*');
  assert.deepEqual(Object.keys(msg).sort(), ['id', 'name', 'params', 'type', 'widgetgate']);
  assert.equal(msg.name, 'getData');
  assert.deepEqual(msg.params, { limit: '50' });
  const result = { status: 200, statusText: 'OK', data: { statusCode: 200, isSuccess: true, body: { items: [] } } };
  win.deliver(win.parent, { widgetgate: 1, type: 'result', id: msg.id, result });
  assert.deepEqual(await p, result);
});

test('widget: forged answers (other source, unknown id, bad shape) are ignored', async () => {
  const win = fakeWidgetWindow();
  const api = kit.createWidgetApi(win, { timeoutMs: 5000 });
  const p = api.callAuthenticatedAPI('getData', {});
  const id = win.parent.sent[0].msg.id;
  const forged = { widgetgate: 1, type: 'result', id, result: { status: 200, statusText: 'OK', data: 'PWNED' } };
  const sibling = { postMessage() {} };
  win.deliver(sibling, forged); // another frame knows the id: still not the parent
  win.deliver(null, forged);
  win.deliver(win, forged);
  win.deliver(win.parent, { ...forged, id: 'c-unknown-1' });
  win.deliver(win.parent, { ...forged, result: { status: 200, data: 'PWNED' } });
  assert.equal(await settled(p), 'pending');
  win.deliver(win.parent, { widgetgate: 1, type: 'result', id, result: { status: 200, statusText: 'OK', data: 'real' } });
  assert.equal((await p).data, 'real');
  // A second answer for the same id is ignored too (nothing pending).
  win.deliver(win.parent, forged);
});

test('widget: options with method, headers or body reject with a clear error, nothing is posted', async () => {
  const win = fakeWidgetWindow();
  const api = kit.createWidgetApi(win);
  for (const options of [{ method: 'DELETE' }, { headers: { 'X-A': '1' } }, { body: 'x' }, { params: {}, url: 'http://evil/' }]) {
    await assert.rejects(api.callAuthenticatedAPI('getData', options),
      (err) => err instanceof Error && err.message.startsWith("callAuthenticatedAPI accepts only params; method, headers and body are defined in the widget's schema"));
  }
  await assert.rejects(api.callAuthenticatedAPI('getData', { params: { deep: { x: 1 } } }), /must be a string, a number or a boolean/);
  await assert.rejects(api.callAuthenticatedAPI('no such name!'), /API name/);
  assert.equal(win.parent.sent.length, 0);
});

test('widget: an error answer rejects; no answer times out', async () => {
  const win = fakeWidgetWindow();
  const api = kit.createWidgetApi(win, { timeoutMs: 30 });
  const p1 = api.callAuthenticatedAPI('getData');
  win.deliver(win.parent, { widgetgate: 1, type: 'result', id: win.parent.sent[0].msg.id, error: { code: 'network_error', message: 'Failed to fetch' } });
  await assert.rejects(p1, (err) => err.code === 'network_error' && /getData.*Failed to fetch/.test(err.message));
  await assert.rejects(api.callAuthenticatedAPI('getData'), /timed out after/);
  assert.equal(kit.CALL_TIMEOUT_MS, 60000);
});

test('widget: outside a host page (no parent) the call rejects', async () => {
  const win = fakeWidgetWindow();
  win.parent = win;
  await assert.rejects(kit.createWidgetApi(win).callAuthenticatedAPI('getData'), /not running inside a widgetgate host/);
});

// ---- host side: createBridge with fake frames and fetch -------------------------

function b64url(obj) {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}
function fakeJWT(claims) {
  return b64url({ alg: 'HS256', typ: 'JWT' }) + '.' + b64url(claims) + '.sig';
}

function fakeFrame() {
  const inbox = [];
  return { inbox, style: {}, contentWindow: { postMessage(msg, target) { inbox.push({ msg: structuredClone(msg), target }); } } };
}

function setup({ respond, context, now, cal: calSpec = {}, deps = {} } = {}) {
  const requests = [];
  const clock = { t: 1_700_000_000_000 };
  const fetch = async (url, init) => {
    requests.push({ url, init });
    const r = respond ? respond(url, init, requests.length) : { status: 200, body: { statusCode: 200, isSuccess: true, body: { items: ['x'] } } };
    const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    return {
      status: r.status,
      statusText: r.statusText ?? '',
      headers: new Headers({ 'Content-Type': r.contentType ?? 'application/json', ...r.headers }),
      text: async () => text,
    };
  };
  let contextCalls = 0;
  const ctx = context ?? (async () => { contextCalls++; return fakeJWT({ wid: 'calendar', exp: Math.floor(clock.t / 1000) + 900 }); });
  const bridge = kit.createBridge({ fetch, now: now ?? (() => clock.t), ...deps });
  const cal = fakeFrame();
  const saas = fakeFrame();
  bridge.register({ frame: cal, widget: 'calendar', sidecar: 'http://sidecar.test/sidecar/', context: ctx, ...calSpec });
  bridge.register({ frame: saas, widget: 'my-saas', sidecar: 'http://sidecar.test/sidecar', context: 'tok-saas' });
  return { bridge, cal, saas, requests, clock, contextCalls: () => contextCalls };
}

const from = (frame, data, origin = 'null') => ({ source: frame.contentWindow, origin, data });

test('host: a good call is POSTed for the iframe\'s widget with the context token, and answered to that iframe only', async () => {
  const s = setup();
  await s.bridge.handleMessage(from(s.cal, call({ params: { maxResults: 3, singleEvents: true } })));
  assert.equal(s.requests.length, 1);
  const { url, init } = s.requests[0];
  assert.equal(url, 'http://sidecar.test/sidecar/widgets/calendar/apis/getCalendarEvents');
  assert.equal(init.method, 'POST');
  assert.equal(init.credentials, 'omit');
  assert.equal(init.body, '{"params":{"maxResults":3,"singleEvents":true}}');
  assert.equal(init.headers['Content-Type'], 'application/json');
  assert.match(init.headers['X-Widget-Context'], /^ey[^.]+\.ey[^.]+\.sig$/);
  assert.equal(s.cal.inbox.length, 1);
  assert.equal(s.saas.inbox.length, 0);
  const { msg, target } = s.cal.inbox[0];
  assert.equal(target, '*');
  assert.deepEqual(msg, { widgetgate: 1, type: 'result', id: 'c1-1',
    result: { status: 200, statusText: 'OK', data: { statusCode: 200, isSuccess: true, body: { items: ['x'] } } } });
});

test('host: the widget id is the iframe\'s: another widget\'s API is called as the caller\'s own widget', async () => {
  const s = setup();
  await s.bridge.handleMessage(from(s.saas, call({ name: 'getCalendarEvents' })));
  assert.equal(s.requests[0].url, 'http://sidecar.test/sidecar/widgets/my-saas/apis/getCalendarEvents');
  assert.equal(s.requests[0].init.headers['X-Widget-Context'], 'tok-saas');
  // Claiming a widget in the message is refused outright.
  await s.bridge.handleMessage(from(s.saas, call({ id: 'c2', widget: 'calendar' })));
  assert.equal(s.requests.length, 1);
  assert.equal(s.saas.inbox[1].msg.error.code, 'invalid_message');
  assert.equal(s.cal.inbox.length, 0);
});

test('host: forged sources are ignored: unknown windows, nested frames, non-opaque origins', async () => {
  const s = setup();
  const stranger = fakeFrame();
  assert.equal(await s.bridge.handleMessage(from(stranger, call())), false);
  assert.equal(await s.bridge.handleMessage({ source: null, origin: 'null', data: call() }), false);
  assert.equal(await s.bridge.handleMessage(from(s.cal, call(), 'http://sidecar.test')), false);
  assert.equal(s.requests.length, 0);
  assert.equal(stranger.inbox.length + s.cal.inbox.length, 0);
});

test('host: invalid calls get an error result and never reach the sidecar', async () => {
  const s = setup();
  const cases = [
    [call({ name: 'a b' }), 'invalid_name'],
    [call({ params: { a: { b: 1 } } }), 'invalid_params'],
    [call({ params: Object.fromEntries(Array.from({ length: 65 }, (_, i) => ['k' + i, i])) }), 'invalid_params'],
    [call({ method: 'DELETE' }), 'invalid_message'],
    [call({ type: 'result', result: { status: 200, statusText: 'OK', data: {} } }), 'invalid_message'],
  ];
  for (const [data, code] of cases) {
    await s.bridge.handleMessage(from(s.cal, data));
    assert.equal(s.cal.inbox.at(-1).msg.error.code, code, JSON.stringify(data));
  }
  await s.bridge.handleMessage(from(s.cal, { hello: 'not widgetgate' }));
  await s.bridge.handleMessage(from(s.cal, call({ id: { toString: () => 'x' } })));
  assert.equal(s.cal.inbox.length, cases.length);
  assert.equal(s.requests.length, 0);
});

test('host: sidecar problems come back as status, statusText and the problem body', async () => {
  const s = setup({ respond: () => ({ status: 404, statusText: 'Not Found', contentType: 'application/problem+json',
    body: { status: 404, code: 'unknown_api', message: 'no such API' } }) });
  await s.bridge.handleMessage(from(s.cal, call()));
  assert.deepEqual(s.cal.inbox[0].msg.result, { status: 404, statusText: 'Not Found', data: { status: 404, code: 'unknown_api', message: 'no such API' } });
});

test('host: the sidecar\'s Widgetgate-Cache and Age headers reach the widget', async () => {
  const s = setup({ respond: () => ({ status: 200, statusText: 'OK', headers: { 'Widgetgate-Cache': 'hit', Age: '7' }, body: { statusCode: 200 } }) });
  await s.bridge.handleMessage(from(s.cal, call()));
  assert.deepEqual(s.cal.inbox[0].msg.result, { status: 200, statusText: 'OK', data: { statusCode: 200 }, cache: 'hit', age: 7 });
});

test('host: a network failure is an error result', async () => {
  const s = setup({ respond: () => { throw new TypeError('Failed to fetch'); } });
  await s.bridge.handleMessage(from(s.cal, call()));
  assert.deepEqual(s.cal.inbox[0].msg.error, { code: 'network_error', message: 'Failed to fetch' });
});

test('host: the context token is cached until 30 s before exp, then fetched again', async () => {
  const s = setup();
  await Promise.all([s.bridge.handleMessage(from(s.cal, call({ id: 'a' }))), s.bridge.handleMessage(from(s.cal, call({ id: 'b' })))]);
  await s.bridge.handleMessage(from(s.cal, call({ id: 'c' })));
  assert.equal(s.contextCalls(), 1);
  s.clock.t += (900 - 31) * 1000;
  await s.bridge.handleMessage(from(s.cal, call({ id: 'd' })));
  assert.equal(s.contextCalls(), 1);
  s.clock.t += 2000;
  await s.bridge.handleMessage(from(s.cal, call({ id: 'e' })));
  assert.equal(s.contextCalls(), 2);
});

test('host: a cached token the sidecar refuses is replaced once', async () => {
  let n = 0;
  const s = setup({ respond: (url, init, i) => (i === 2 ? { status: 401, body: { code: 'invalid_caller_context' } } : { status: 200, body: { n: ++n } }) });
  await s.bridge.handleMessage(from(s.cal, call({ id: 'a' })));
  await s.bridge.handleMessage(from(s.cal, call({ id: 'b' })));
  assert.equal(s.requests.length, 3);
  assert.equal(s.contextCalls(), 2);
  assert.equal(s.cal.inbox[1].msg.result.status, 200);
});

test('host: a failing context function is an error result, not a call without a token', async () => {
  const s = setup({ context: async () => { throw new Error('403 from /context'); } });
  await s.bridge.handleMessage(from(s.cal, call()));
  assert.equal(s.requests.length, 0);
  assert.equal(s.cal.inbox[0].msg.error.code, 'context_unavailable');
});

test('host: an unmounted frame gets no answer', async () => {
  const s = setup();
  const m = s.bridge.mounts()[0];
  const pending = s.bridge.handleMessage(from(s.cal, call()));
  s.bridge.unregister(m);
  await pending;
  assert.equal(s.cal.inbox.length, 0);
  assert.equal(await s.bridge.handleMessage(from(s.cal, call())), false);
});

test('host: invalid widget ids cannot be mounted', () => {
  const bridge = kit.createBridge({ fetch: async () => {} });
  for (const widget of ['', '../x', 'a/b', '.hidden', 'x'.repeat(129)]) {
    assert.throws(() => bridge.register({ frame: fakeFrame(), widget, sidecar: 'http://s', context: 't' }), /invalid widget id/);
  }
});

test('jwtExpiry reads exp without verifying', () => {
  assert.equal(kit.jwtExpiry(fakeJWT({ exp: 1700000000 })), 1700000000000);
  assert.equal(kit.jwtExpiry('not-a-jwt'), 0);
  assert.equal(kit.jwtExpiry('a.!!!.c'), 0);
});

// ==== the Appspace Widget API ================================================

// fakeTimers stands in for setTimeout/clearTimeout: nothing runs until the
// test fires it.
function fakeTimers() {
  const timers = [];
  let n = 0;
  return {
    timers,
    setTimeout(fn, ms) { timers.push({ id: ++n, fn, ms, state: 'armed' }); return n; },
    clearTimeout(id) { const t = timers.find((x) => x.id === id); if (t && t.state === 'armed') t.state = 'cleared'; },
    armed() { return timers.filter((t) => t.state === 'armed'); },
    fireNext() {
      const t = this.armed()[0];
      assert.ok(t, 'a timer is armed');
      t.state = 'fired';
      t.fn();
      return t;
    },
  };
}

// fakeEventWindow is a widget's window with events (for installWidget).
function fakeEventWindow() {
  const listeners = new Map();
  const parent = { sent: [], postMessage(msg, target) { this.sent.push({ msg: structuredClone(msg), target }); } };
  const win = {
    parent,
    events: [],
    CustomEvent,
    addEventListener(type, fn) { if (!listeners.has(type)) listeners.set(type, []); listeners.get(type).push(fn); },
    removeEventListener(type, fn) { const l = listeners.get(type) || []; const i = l.indexOf(fn); if (i >= 0) l.splice(i, 1); },
    dispatchEvent(ev) { this.events.push(ev); for (const fn of (listeners.get(ev.type) || []).slice()) fn(ev); return true; },
    deliver(source, data) { for (const fn of (listeners.get('message') || []).slice()) fn({ source, data, origin: 'http://host.example' }); },
  };
  return win;
}

const hellos = (win) => win.parent.sent.filter((s) => s.msg.type === 'hello');
const ready = (id) => ({ widgetgate: 1, type: 'ready', id });

test('widget: the handshake: widgetApi is set, the event fires once and waitForWidgetApi resolves only on the host\'s ready', async () => {
  const win = fakeEventWindow();
  const timers = fakeTimers();
  kit.installWidget(win, { setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout, libraryUrl: 'http://s/sidecar/widgetgate.js' });
  assert.equal(typeof win.appspace.waitForWidgetApi, 'function');
  assert.equal(win.appspace.widgetApi, undefined, 'no widgetApi before the bridge is up');
  const seenAtEvent = [];
  win.addEventListener(kit.READY_EVENT, (ev) => seenAtEvent.push({ api: win.appspace.widgetApi, detail: ev.detail }));
  const early = win.appspace.waitForWidgetApi();

  // The hello: exactly these keys, to the parent, target "*".
  assert.equal(hellos(win).length, 1);
  const { msg, target } = hellos(win)[0];
  assert.equal(target, '*');
  assert.deepEqual(Object.keys(msg).sort(), ['id', 'type', 'widgetgate']);
  assert.match(msg.id, /^h[0-9a-f]{16}$/);

  // Forged or wrong answers change nothing.
  win.deliver({ postMessage() {} }, ready(msg.id)); // a sibling frame
  win.deliver(win, ready(msg.id));
  win.deliver(win.parent, ready('h0000000000000000'));
  win.deliver(win.parent, { ...ready(msg.id), extra: 1 });
  win.deliver(win.parent, { ...ready(msg.id), widgetgate: 2 });
  win.deliver(win.parent, { widgetgate: 1, type: 'result', id: msg.id, result: { status: 200, statusText: 'OK', data: 1 } });
  assert.equal(await settled(early), 'pending');
  assert.equal(win.appspace.widgetApi, undefined);
  assert.equal(win.events.length, 0);

  win.deliver(win.parent, ready(msg.id));
  assert.equal(win.events.length, 1);
  assert.equal(win.events[0].type, 'appspace:widgetapi:ready');
  const api = await early;
  assert.equal(win.appspace.widgetApi, api);
  assert.deepEqual(seenAtEvent, [{ api, detail: api }], 'widgetApi is set when the event fires');
  assert.equal(await win.appspace.waitForWidgetApi(), api, 'after readiness: the same object');

  // Repeated answers (the host answers every resent hello): still once.
  win.deliver(win.parent, ready(msg.id));
  win.deliver(win.parent, ready(msg.id));
  assert.equal(win.events.length, 1);
  assert.equal(win.appspace.widgetApi, api);
  assert.equal(timers.armed().length, 0, 'no resend is left armed');
});

test('widget: the hello is resent a bounded number of times, then waitForWidgetApi rejects', async () => {
  const win = fakeEventWindow();
  const timers = fakeTimers();
  kit.installWidget(win, { setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout, helloDelays: [10, 20, 40] });
  const p = win.appspace.waitForWidgetApi();
  assert.equal(hellos(win).length, 1);
  assert.equal(timers.fireNext().ms, 10);
  assert.equal(hellos(win).length, 2);
  assert.equal(timers.fireNext().ms, 20);
  assert.equal(hellos(win).length, 3);
  assert.equal(new Set(hellos(win).map((h) => h.msg.id)).size, 1, 'each resend is the same hello');
  assert.equal(await settled(p), 'pending');
  assert.equal(timers.fireNext().ms, 40);
  await assert.rejects(p, (err) => err.code === 'no_host' && /no widgetgate host answered \(3 attempts\)/.test(err.message));
  assert.equal(hellos(win).length, 3);
  assert.equal(timers.armed().length, 0);
  // A late answer is not taken.
  win.deliver(win.parent, ready(hellos(win)[0].msg.id));
  assert.equal(win.appspace.widgetApi, undefined);
  assert.equal(win.events.length, 0);
  await assert.rejects(win.appspace.waitForWidgetApi(), /no widgetgate host answered/);
});

test('widget: the default resend schedule is bounded', () => {
  assert.ok(kit.HELLO_DELAYS_MS.length >= 2 && kit.HELLO_DELAYS_MS.length <= 10);
  assert.ok(kit.HELLO_DELAYS_MS.reduce((a, b) => a + b, 0) <= 30000);
});

test('widget: an answer to the second hello stops the resends', async () => {
  const win = fakeEventWindow();
  const timers = fakeTimers();
  kit.installWidget(win, { setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout });
  timers.fireNext();
  assert.equal(hellos(win).length, 2);
  win.deliver(win.parent, ready(hellos(win)[0].msg.id));
  assert.equal(timers.armed().length, 0);
  assert.equal(typeof (await win.appspace.waitForWidgetApi()).callAuthenticatedAPI, 'function');
  assert.equal(hellos(win).length, 2);
});

test('widget: outside a host page waitForWidgetApi rejects and nothing is posted', async () => {
  const win = fakeEventWindow();
  win.parent = win;
  kit.installWidget(win, { setTimeout: () => assert.fail('no timer'), clearTimeout() {} });
  await assert.rejects(win.appspace.waitForWidgetApi(), (err) => err.code === 'no_host' && /not running inside a widgetgate host page/.test(err.message));
  assert.equal(win.appspace.widgetApi, undefined);
});

const API_METHODS = ['callAppspaceAPI', 'callAuthenticatedAPI', 'getConfiguration', 'getInfo', 'getUserInfo', 'navigate',
  'onError', 'onLoaded', 'onLoading', 'onReady', 'raiseAnalyticsEvent', 'setHeight', 'setViewMode'];

test('widget: the API object is frozen and has exactly the implemented methods', () => {
  const api = kit.createWidgetApi(fakeWidgetWindow());
  assert.ok(Object.isFrozen(api));
  assert.deepEqual(Object.keys(api).sort(), API_METHODS);
  for (const name of API_METHODS) assert.equal(typeof api[name], 'function', name);
  for (const name of ['getWidgetContext', 'subscribe', 'postMessage', 'getToken', 'fetch']) assert.equal(typeof api[name], 'undefined', name);
  assert.throws(() => { 'use strict'; api.callAuthenticatedAPI = () => 1; }, TypeError);
});

test('widget: getInfo is answered in the frame: the kit version and where it was loaded from', async () => {
  const win = fakeWidgetWindow();
  const api = kit.createWidgetApi(win, { libraryUrl: 'http://s.test/sidecar/widgetgate.js' });
  assert.match(kit.KIT_VERSION, /^\d+\.\d+\.\d+$/);
  assert.deepEqual(await api.getInfo(), { version: kit.KIT_VERSION, libraryUrl: 'http://s.test/sidecar/widgetgate.js' });
  assert.equal(win.parent.sent.length, 0);
});

// Each method: what the widget posts, the host's value, what it resolves with.
const METHOD_CASES = [
  { call: (a) => a.getConfiguration(), msg: { type: 'getConfiguration' },
    value: { data: { configuration: { title: { value: 'Lobby' }, count: { value: 3 }, unset: { value: null } } } } },
  { call: (a) => a.getUserInfo(), msg: { type: 'getUserInfo' }, value: { displayName: 'Ann', email: 'ann@example.com', language: 'en-GB' } },
  { call: (a) => a.setHeight(320.4), msg: { type: 'setHeight', height: 320.4 }, value: 320 },
  { call: (a) => a.onReady(), msg: { type: 'lifecycle', state: 'ready' }, value: null, want: undefined },
  { call: (a) => a.onLoading(), msg: { type: 'lifecycle', state: 'loading' }, value: null, want: undefined },
  { call: (a) => a.onLoaded(), msg: { type: 'lifecycle', state: 'loaded' }, value: null, want: undefined },
  { call: (a) => a.onError(new Error('boom')), msg: { type: 'lifecycle', state: 'error', message: 'boom' }, value: null, want: undefined },
  { call: (a) => a.onError('x'.repeat(300)), msg: { type: 'lifecycle', state: 'error', message: 'x'.repeat(256) }, value: null, want: undefined },
  { call: (a) => a.onError(), msg: { type: 'lifecycle', state: 'error' }, value: null, want: undefined },
  { call: (a) => a.raiseAnalyticsEvent('tile.click', { tile: 'a', n: 1, ok: true }), msg: { type: 'analytics', name: 'tile.click', meta: { tile: 'a', n: 1, ok: true } }, value: null, want: undefined },
  { call: (a) => a.raiseAnalyticsEvent('app:opened'), msg: { type: 'analytics', name: 'app:opened' }, value: null, want: undefined },
  { call: (a) => a.navigate('https://example.com/x?y=1', '_self'), msg: { type: 'navigate', url: 'https://example.com/x?y=1' }, value: true },
  { call: (a) => a.setViewMode('fullscreen'), msg: { type: 'setViewMode', mode: 'fullscreen' }, value: false },
  { call: (a) => a.callAppspaceAPI('getDevice', { ids: [1, 2], deep: { ok: true } }), msg: { type: 'appspaceApi', name: 'getDevice', args: { ids: [1, 2], deep: { ok: true } } },
    value: { status: 200, statusText: 'OK', data: { name: 'lobby-1' } } },
  { call: (a) => a.callAppspaceAPI('getDevice'), msg: { type: 'appspaceApi', name: 'getDevice' }, value: { status: 404, statusText: 'Not Found', data: null } },
];

test('widget: each method posts exactly its fields and resolves with the host\'s reply', async () => {
  for (const [i, c] of METHOD_CASES.entries()) {
    const win = fakeWidgetWindow();
    const api = kit.createWidgetApi(win);
    const p = c.call(api);
    assert.equal(win.parent.sent.length, 1, `case #${i}`);
    const { msg, target } = win.parent.sent[0];
    assert.equal(target, '*');
    assert.match(msg.id, /^c[0-9a-f]{16}-\d+$/);
    const { id, ...rest } = msg;
    assert.deepEqual(rest, { widgetgate: 1, ...c.msg }, `case #${i}`);
    win.deliver(win.parent, { widgetgate: 1, type: 'reply', id, value: c.value });
    assert.deepEqual(await p, 'want' in c ? c.want : c.value, `case #${i}`);
  }
});

test('widget: bad arguments reject with TypeError before anything is posted', async () => {
  const win = fakeWidgetWindow();
  const timers = fakeTimers();
  const api = kit.createWidgetApi(win, { setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout });
  const big = { s: 'x'.repeat(4100) };
  const deep = JSON.parse('['.repeat(17) + ']'.repeat(17));
  const bad = [
    () => api.setHeight('100'), () => api.setHeight(NaN), () => api.setHeight(Infinity), () => api.setHeight(), () => api.setHeight(10n),
    () => api.raiseAnalyticsEvent(''), () => api.raiseAnalyticsEvent('a b'), () => api.raiseAnalyticsEvent('x'.repeat(65)),
    () => api.raiseAnalyticsEvent('évènement'), () => api.raiseAnalyticsEvent(42), () => api.raiseAnalyticsEvent('<img>'),
    () => api.raiseAnalyticsEvent('e', ['a']), () => api.raiseAnalyticsEvent('e', 'meta'), () => api.raiseAnalyticsEvent('e', { a: { b: 1 } }),
    () => api.raiseAnalyticsEvent('e', { a: null }), () => api.raiseAnalyticsEvent('e', { a: NaN }), () => api.raiseAnalyticsEvent('e', { a: [1] }),
    () => api.raiseAnalyticsEvent('e', Object.fromEntries(Array.from({ length: 33 }, (_, i) => ['k' + i, i]))),
    () => api.raiseAnalyticsEvent('e', { ['k'.repeat(65)]: 1 }), () => api.raiseAnalyticsEvent('e', { '': 1 }), () => api.raiseAnalyticsEvent('e', big),
    () => api.navigate(42), () => api.navigate(''), () => api.navigate('https://x/' + 'a'.repeat(2048)), () => api.navigate({ href: 'https://x/' }),
    () => api.setViewMode(''), () => api.setViewMode('full screen'), () => api.setViewMode(1),
    () => api.callAppspaceAPI('a b'), () => api.callAppspaceAPI(''), () => api.callAppspaceAPI('getDevice', () => 1),
    () => api.callAppspaceAPI('getDevice', { n: Infinity }), () => api.callAppspaceAPI('getDevice', deep), () => api.callAppspaceAPI('getDevice', new Date()),
    () => api.callAppspaceAPI('getDevice', new Map()), () => api.callAppspaceAPI('getDevice', { s: 'x'.repeat(65537) }), () => api.callAppspaceAPI('getDevice', [undefined]),
  ];
  for (const [i, f] of bad.entries()) {
    await assert.rejects(f(), TypeError, `case #${i}`);
  }
  assert.equal(win.parent.sent.length, 0);
  // The bounds themselves pass.
  const p1 = api.raiseAnalyticsEvent('x'.repeat(64), Object.fromEntries(Array.from({ length: 32 }, (_, i) => ['k'.repeat(60) + String(i).padStart(4, '0'), i])));
  const p2 = api.callAppspaceAPI('getDevice', JSON.parse('['.repeat(16) + ']'.repeat(16)));
  assert.equal(win.parent.sent.length, 2);
  // Unanswered, they time out (on the injected clock).
  assert.deepEqual(timers.armed().map((t) => t.ms), [kit.CALL_TIMEOUT_MS, kit.CALL_TIMEOUT_MS]);
  timers.fireNext();
  timers.fireNext();
  await assert.rejects(p1, /raiseAnalyticsEvent\(".*"\) timed out after 60 s/);
  await assert.rejects(p2, /callAppspaceAPI\("getDevice"\) timed out after 60 s/);
});

test('widget: replies of the wrong shape, for another request kind, or from elsewhere are ignored', async () => {
  const win = fakeWidgetWindow();
  const api = kit.createWidgetApi(win, { timeoutMs: 5000 });
  const pConf = api.getConfiguration();
  const pHeight = api.setHeight(100);
  const pCall = api.callAuthenticatedAPI('getData');
  const [conf, height, call] = win.parent.sent.map((s) => s.msg.id);
  const good = { data: { configuration: { a: { value: 1 } } } };
  const forged = [
    [win.parent, { widgetgate: 1, type: 'reply', id: conf, value: { configuration: { a: { value: 1 } } } }],
    [win.parent, { widgetgate: 1, type: 'reply', id: conf, value: { data: { configuration: { a: 1 } } } }],
    [win.parent, { widgetgate: 1, type: 'reply', id: conf, value: { data: { configuration: { a: { value: 1, html: '<b>' } } } } }],
    [win.parent, { widgetgate: 1, type: 'reply', id: conf, value: { data: { configuration: {} }, extra: 1 } }],
    [win.parent, { widgetgate: 1, type: 'reply', id: conf, value: good, extra: 1 }],
    [win.parent, { widgetgate: 1, type: 'reply', id: conf, value: good, error: { message: 'x' } }],
    [win.parent, { widgetgate: 1, type: 'result', id: conf, result: { status: 200, statusText: 'OK', data: good } }],
    [{ postMessage() {} }, { widgetgate: 1, type: 'reply', id: conf, value: good }],
    [win.parent, { widgetgate: 1, type: 'reply', id: height, value: '320' }],
    [win.parent, { widgetgate: 1, type: 'reply', id: height, value: NaN }],
    [win.parent, { widgetgate: 1, type: 'reply', id: call, value: { status: 200, statusText: 'OK', data: 'PWNED' } }],
    [win.parent, { widgetgate: 2, type: 'reply', id: height, value: 1 }],
  ];
  for (const [source, data] of forged) win.deliver(source, data);
  assert.deepEqual(await Promise.all([settled(pConf), settled(pHeight), settled(pCall)]), ['pending', 'pending', 'pending']);
  win.deliver(win.parent, { widgetgate: 1, type: 'reply', id: conf, value: good });
  assert.deepEqual(await pConf, good);
  win.deliver(win.parent, { widgetgate: 1, type: 'reply', id: height, error: { code: 'invalid_params', message: 'no' } });
  await assert.rejects(pHeight, (err) => err.code === 'invalid_params' && /setHeight\(\) failed: no/.test(err.message));
  win.deliver(win.parent, { widgetgate: 1, type: 'result', id: call, result: { status: 200, statusText: 'OK', data: 'real' } });
  assert.equal((await pCall).data, 'real');
});

test('widget: parseMethodReply bounds what a reply may hold', () => {
  const r = (kind, value) => kit.parseMethodReply({ widgetgate: 1, type: 'reply', id: 'c1', value }, kind);
  assert.equal(r('getUserInfo', { displayName: 'x'.repeat(1025), email: '', language: '' }), null);
  assert.equal(r('getUserInfo', { displayName: 'A', email: '' }), null);
  assert.equal(r('appspaceApi', { status: 200, statusText: 'OK' }), null);
  assert.equal(r('appspaceApi', { status: 1000, statusText: 'OK', data: null }), null);
  assert.equal(r('appspaceApi', { status: 200, statusText: 'OK', data: 'x'.repeat(1048577) }), null);
  assert.equal(r('lifecycle', false), null);
  assert.equal(r('navigate', 'true'), null);
  assert.equal(r('nosuchkind', null), null);
  assert.deepEqual(r('appspaceApi', { status: 500, statusText: 'Internal Server Error', data: null }), { id: 'c1', value: { status: 500, statusText: 'Internal Server Error', data: null } });
  const err = kit.parseMethodReply({ widgetgate: 1, type: 'reply', id: 'c1', error: { code: 'x'.repeat(100), message: 'm'.repeat(5000) } }, 'navigate');
  assert.equal(err.error.code.length, 64);
  assert.equal(err.error.message.length, 1024);
});

// ---- host side: the new requests ---------------------------------------------

const req = (type, fields = {}, id = 'r1') => ({ widgetgate: 1, type, id, ...fields });
const lastReply = (frame) => frame.inbox.at(-1).msg;

test('host: a hello is answered with ready, only to a frame it mounted, only when well-formed', async () => {
  const s = setup();
  assert.equal(await s.bridge.handleMessage(from(s.cal, req('hello', {}, 'habc'))), true);
  assert.deepEqual(s.cal.inbox, [{ msg: { widgetgate: 1, type: 'ready', id: 'habc' }, target: '*' }]);
  const stranger = fakeFrame();
  assert.equal(await s.bridge.handleMessage(from(stranger, req('hello'))), false);
  assert.equal(await s.bridge.handleMessage(from(s.cal, req('hello'), 'http://evil.example')), false);
  assert.equal(await s.bridge.handleMessage(from(s.cal, req('hello', { widget: 'my-saas' }))), false);
  assert.equal(await s.bridge.handleMessage(from(s.cal, req('hello', {}, 'bad id'))), false);
  assert.equal(stranger.inbox.length + s.saas.inbox.length, 0);
  assert.equal(s.cal.inbox.length, 1);
  assert.equal(s.requests.length, 0);
});

const contextBody = {
  configuration: { title: { value: 'Lobby' }, maxItems: { value: 5 }, color: { value: null } },
  user: { displayName: 'Ann Example', email: 'ann@example.com', language: 'en-GB' },
};

test('host: getConfiguration GETs the mount\'s /context with the caller context, and answers the configuration', async () => {
  const s = setup({ respond: () => ({ status: 200, body: contextBody }) });
  await s.bridge.handleMessage(from(s.cal, req('getConfiguration')));
  assert.equal(s.requests.length, 1);
  const { url, init } = s.requests[0];
  assert.equal(url, 'http://sidecar.test/sidecar/widgets/calendar/context');
  assert.equal(init.method, 'GET');
  assert.equal(init.mode, 'cors');
  assert.equal(init.credentials, 'omit');
  assert.equal(init.cache, 'no-store');
  assert.equal(init.body, undefined);
  assert.deepEqual(Object.keys(init.headers), ['X-Widget-Context']);
  assert.match(init.headers['X-Widget-Context'], /^ey[^.]+\.ey[^.]+\.sig$/);
  assert.deepEqual(s.cal.inbox, [{ target: '*', msg: { widgetgate: 1, type: 'reply', id: 'r1',
    value: { data: { configuration: { title: { value: 'Lobby' }, maxItems: { value: 5 }, color: { value: null } } } } } }]);
  assert.equal(s.saas.inbox.length, 0);
});

test('host: getUserInfo answers the /context user, "" for what is missing', async () => {
  let user = contextBody.user;
  const s = setup({ respond: () => ({ status: 200, body: { configuration: {}, user } }) });
  await s.bridge.handleMessage(from(s.cal, req('getUserInfo')));
  assert.deepEqual(lastReply(s.cal).value, { displayName: 'Ann Example', email: 'ann@example.com', language: 'en-GB' });
  user = { displayName: 7, email: null };
  await s.bridge.handleMessage(from(s.cal, req('getUserInfo', {}, 'r2')));
  assert.deepEqual(lastReply(s.cal).value, { displayName: '', email: '', language: '' });
  user = undefined;
  await s.bridge.handleMessage(from(s.cal, req('getUserInfo', {}, 'r3')));
  assert.deepEqual(lastReply(s.cal).value, { displayName: '', email: '', language: '' });
  assert.equal(s.requests.length, 3, 'a fresh fetch for each request that is not concurrent');
});

test('host: the /context widget id is the frame\'s; a message naming one is refused', async () => {
  const s = setup({ respond: () => ({ status: 200, body: contextBody }) });
  await s.bridge.handleMessage(from(s.saas, req('getConfiguration')));
  assert.equal(s.requests[0].url, 'http://sidecar.test/sidecar/widgets/my-saas/context');
  assert.equal(s.requests[0].init.headers['X-Widget-Context'], 'tok-saas');
  for (const extra of [{ widget: 'calendar' }, { instance: 'lobby' }, { url: 'http://evil/' }]) {
    await s.bridge.handleMessage(from(s.saas, req('getConfiguration', extra, 'r2')));
    assert.equal(lastReply(s.saas).error.code, 'invalid_message', JSON.stringify(extra));
    await s.bridge.handleMessage(from(s.saas, req('getUserInfo', extra, 'r3')));
    assert.equal(lastReply(s.saas).error.code, 'invalid_message', JSON.stringify(extra));
  }
  assert.equal(s.requests.length, 1);
});

test('host: concurrent getConfiguration and getUserInfo share one /context fetch; nothing is cached after it', async () => {
  const s = setup({ respond: () => ({ status: 200, body: contextBody }) });
  await Promise.all([
    s.bridge.handleMessage(from(s.cal, req('getConfiguration', {}, 'a'))),
    s.bridge.handleMessage(from(s.cal, req('getUserInfo', {}, 'b'))),
  ]);
  assert.equal(s.requests.length, 1);
  assert.deepEqual(s.cal.inbox.map((x) => x.msg.id).sort(), ['a', 'b']);
  assert.equal(s.cal.inbox.find((x) => x.msg.id === 'b').msg.value.displayName, 'Ann Example');
  await s.bridge.handleMessage(from(s.cal, req('getConfiguration', {}, 'c')));
  assert.equal(s.requests.length, 2, 'an administrator\'s change shows on the next request');
  // Another mount's requests never share it.
  await Promise.all([s.bridge.handleMessage(from(s.cal, req('getConfiguration', {}, 'd'))), s.bridge.handleMessage(from(s.saas, req('getConfiguration', {}, 'e')))]);
  assert.equal(s.requests.length, 4);
});

test('host: a cached token /context refuses is replaced once', async () => {
  const s = setup({ respond: (url, init, i) => (i === 2 ? { status: 401, contentType: 'application/problem+json', body: { status: 401, code: 'invalid_caller_context', message: 'expired' } } : { status: 200, body: contextBody }) });
  await s.bridge.handleMessage(from(s.cal, req('getConfiguration', {}, 'a')));
  await s.bridge.handleMessage(from(s.cal, req('getConfiguration', {}, 'b')));
  assert.equal(s.requests.length, 3);
  assert.equal(s.contextCalls(), 2);
  assert.notEqual(s.requests[2].init.headers['X-Widget-Context'], undefined);
  assert.deepEqual(lastReply(s.cal).value.data.configuration.title, { value: 'Lobby' });
  // A fresh token refused is not retried: the problem comes back.
  const t = setup({ respond: () => ({ status: 401, contentType: 'application/problem+json', body: { status: 401, code: 'invalid_caller_context', message: 'bad signature' } }) });
  await t.bridge.handleMessage(from(t.cal, req('getConfiguration')));
  assert.equal(t.requests.length, 1);
  assert.deepEqual(lastReply(t.cal).error, { code: 'invalid_caller_context', message: 'bad signature' });
});

test('host: /context problems, network failures and missing tokens are errors with a code', async () => {
  const cases = [
    [{ status: 404, contentType: 'application/problem+json', body: { status: 404, code: 'unknown_widget', message: 'no such widget' } }, { code: 'unknown_widget', message: 'no such widget' }],
    [{ status: 403, contentType: 'application/problem+json', body: { status: 403, code: 'widget_mismatch', message: 'not yours' } }, { code: 'widget_mismatch', message: 'not yours' }],
    [{ status: 503, contentType: 'application/problem+json', headers: { 'Retry-After': '5' }, body: { status: 503, code: 'vault_unavailable', message: 'later' } }, { code: 'vault_unavailable', message: 'later' }],
    [{ status: 502, contentType: 'text/html', body: '<h1>bad gateway</h1>' }, { code: 'http_502', message: 'the sidecar answered HTTP 502' }],
    [{ status: 200, contentType: 'application/json', body: { user: {} } }, { code: 'invalid_context', message: "the sidecar's /context answer has no configuration" }],
  ];
  for (const [answer, error] of cases) {
    const s = setup({ respond: () => answer });
    await s.bridge.handleMessage(from(s.cal, req('getConfiguration')));
    assert.deepEqual(lastReply(s.cal), { widgetgate: 1, type: 'reply', id: 'r1', error }, JSON.stringify(answer));
  }
  const n = setup({ respond: () => { throw new TypeError('Failed to fetch'); } });
  await n.bridge.handleMessage(from(n.cal, req('getUserInfo')));
  assert.deepEqual(lastReply(n.cal).error, { code: 'network_error', message: 'Failed to fetch' });
  const c = setup({ context: async () => { throw new Error('403 from /context'); } });
  await c.bridge.handleMessage(from(c.cal, req('getConfiguration')));
  assert.equal(c.requests.length, 0);
  assert.equal(lastReply(c.cal).error.code, 'context_unavailable');
});

test('host: setHeight clamps to [minHeight, maxHeight], rounds, and sets the frame\'s height', async () => {
  const s = setup();
  const cases = [[320, 320], [10, 40], [-5, 40], [5000, 2000], [300.6, 301], [40, 40], [2000, 2000]];
  for (const [ask, got] of cases) {
    await s.bridge.handleMessage(from(s.cal, req('setHeight', { height: ask })));
    assert.equal(lastReply(s.cal).value, got, String(ask));
    assert.equal(s.cal.style.height, got + 'px');
  }
  const t = setup({ cal: { minHeight: 100, maxHeight: 500 } });
  await t.bridge.handleMessage(from(t.cal, req('setHeight', { height: 50 })));
  assert.equal(lastReply(t.cal).value, 100);
  await t.bridge.handleMessage(from(t.cal, req('setHeight', { height: 900 })));
  assert.equal(lastReply(t.cal).value, 500);
  assert.equal(t.cal.style.height, '500px');
  for (const height of [NaN, Infinity, -Infinity, '300', null, { px: 1 }, undefined]) {
    await t.bridge.handleMessage(from(t.cal, req('setHeight', { height })));
    assert.equal(lastReply(t.cal).error.code, 'invalid_params', String(height));
  }
  assert.equal(t.cal.style.height, '500px');
  assert.throws(() => kit.createBridge({}).register({ frame: fakeFrame(), widget: 'w', sidecar: 'http://s', context: 't', minHeight: 10, maxHeight: 5 }), /minHeight/);
  assert.throws(() => kit.createBridge({}).register({ frame: fakeFrame(), widget: 'w', sidecar: 'http://s', context: 't', maxHeight: '100' }), /maxHeight/);
});

test('host: lifecycle signals are counted and passed to onLifecycle', async () => {
  const seen = [];
  const s = setup({ cal: { onLifecycle: (...args) => seen.push(args) } });
  const m = s.bridge.mounts()[0];
  assert.deepEqual(m.counts(), { loading: 0, ready: 0, loaded: 0, error: 0, analytics: 0 });
  assert.equal(m.state, 'loading');
  for (const [i, f] of [{ state: 'loading' }, { state: 'ready' }, { state: 'loaded' }, { state: 'error', message: 'boom' }, { state: 'ready' }].entries()) {
    await s.bridge.handleMessage(from(s.cal, req('lifecycle', f, 'l' + i)));
    assert.deepEqual(lastReply(s.cal), { widgetgate: 1, type: 'reply', id: 'l' + i, value: null });
  }
  assert.deepEqual(m.counts(), { loading: 1, ready: 2, loaded: 1, error: 1, analytics: 0 });
  assert.equal(m.state, 'ready');
  assert.deepEqual(seen, [['loading', 'calendar', undefined], ['ready', 'calendar', undefined], ['loaded', 'calendar', undefined],
    ['error', 'calendar', { message: 'boom' }], ['ready', 'calendar', undefined]]);
  m.counts().ready = 99;
  assert.equal(m.counts().ready, 2, 'counts() is a copy');
  for (const f of [{ state: 'done' }, { state: 'READY' }, {}, { state: 'ready', message: 'x' }, { state: 'error', message: 'x'.repeat(257) },
    { state: 'error', message: 42 }, { state: 'ready', html: '<b>' }]) {
    await s.bridge.handleMessage(from(s.cal, req('lifecycle', f)));
    assert.match(lastReply(s.cal).error.code, /^invalid_(params|message)$/, JSON.stringify(f));
  }
  assert.equal(seen.length, 5);
  assert.deepEqual(m.counts(), { loading: 1, ready: 2, loaded: 1, error: 1, analytics: 0 });
});

test('host: a failing host callback is logged, not sent to the widget', async () => {
  const warnings = [];
  const s = setup({ cal: { onLifecycle: () => { throw new Error('host bug'); } }, deps: { warn: (w) => warnings.push(w) } });
  await s.bridge.handleMessage(from(s.cal, req('lifecycle', { state: 'ready' })));
  assert.deepEqual(lastReply(s.cal).value, null);
  assert.match(warnings.join('\n'), /host bug/);
});

test('host: analytics events reach onAnalyticsEvent with the frame\'s widget, bounded, and are counted', async () => {
  const events = [];
  const s = setup({ cal: { onAnalyticsEvent: (e) => events.push(e) } });
  const m = s.bridge.mounts()[0];
  await s.bridge.handleMessage(from(s.cal, req('analytics', { name: 'tile.click', meta: { tile: 'a', n: 2, ok: false } })));
  await s.bridge.handleMessage(from(s.cal, req('analytics', { name: 'view:open' }, 'r2')));
  assert.deepEqual(events, [{ widget: 'calendar', name: 'tile.click', meta: { tile: 'a', n: 2, ok: false } }, { widget: 'calendar', name: 'view:open', meta: {} }]);
  assert.deepEqual(lastReply(s.cal), { widgetgate: 1, type: 'reply', id: 'r2', value: null });
  assert.equal(m.counts().analytics, 2);
  const bad = [
    { name: '' }, { name: 'a b' }, { name: 'x'.repeat(65) }, { name: '<script>' }, {}, { name: 7 },
    { name: 'e', meta: { a: { b: 1 } } }, { name: 'e', meta: ['x'] }, { name: 'e', meta: { a: NaN } }, { name: 'e', meta: { a: null } },
    { name: 'e', meta: Object.fromEntries(Array.from({ length: 33 }, (_, i) => ['k' + i, 1])) },
    { name: 'e', meta: { ['k'.repeat(65)]: 1 } }, { name: 'e', meta: { s: 'x'.repeat(4096) } },
    { name: 'e', meta: { s: 'é'.repeat(2040) } }, // under 4096 characters, over 4 KiB
    { name: 'e', widget: 'my-saas' },
  ];
  for (const f of bad) {
    await s.bridge.handleMessage(from(s.cal, req('analytics', f)));
    assert.match(lastReply(s.cal).error.code, /^invalid_(params|message)$/, JSON.stringify(f).slice(0, 80));
  }
  assert.equal(events.length, 2);
  assert.equal(m.counts().analytics, 2);
  // Without a callback an event is still counted and answered.
  await s.bridge.handleMessage(from(s.saas, req('analytics', { name: 'x' })));
  assert.equal(s.bridge.mounts()[1].counts().analytics, 1);
});

test('checkAnalytics: the 4 KiB bound is on the UTF-8 JSON of name and meta', () => {
  const fill = (n) => ({ s: 'x'.repeat(n) });
  const overhead = JSON.stringify({ name: 'e', meta: fill(0) }).length;
  assert.ok(kit.checkAnalytics('e', fill(4096 - overhead)).meta);
  assert.match(kit.checkAnalytics('e', fill(4097 - overhead)).error, /too large: 4097 bytes/);
  assert.equal(kit.utf8Length('é€😀'), 2 + 3 + 4);
  const a = kit.checkAnalytics('e', JSON.parse('{"__proto__": "x"}'));
  assert.equal(Object.getPrototypeOf(a.meta), Object.prototype);
  assert.equal(JSON.stringify(a.meta), '{"__proto__":"x"}');
});

test('host: navigate opens only absolute http(s) URLs, in a new top-level context with noopener', async () => {
  const opened = [];
  const s = setup({ deps: { open: (...args) => { opened.push(args); return null; } } });
  await s.bridge.handleMessage(from(s.cal, req('navigate', { url: 'https://example.com/a?b=1#c' })));
  assert.equal(lastReply(s.cal).value, true);
  await s.bridge.handleMessage(from(s.cal, req('navigate', { url: 'HTTP://Example.COM' })));
  assert.equal(lastReply(s.cal).value, true);
  assert.deepEqual(opened, [['https://example.com/a?b=1#c', '_blank', 'noopener,noreferrer'], ['http://example.com/', '_blank', 'noopener,noreferrer']]);
  // A target is not even part of the message.
  await s.bridge.handleMessage(from(s.cal, req('navigate', { url: 'https://example.com/', target: '_top' })));
  assert.equal(lastReply(s.cal).error.code, 'invalid_message');
  assert.equal(opened.length, 2);
});

test('host: navigate refuses javascript:, data:, blob:, relative and other URLs; win.open is never called', async () => {
  const opened = [];
  const s = setup({ deps: { open: (...args) => opened.push(args) } });
  const refused = [
    'javascript:alert(1)', 'JavaScript:alert(document.domain)', ' javascript:alert(1)', 'java\tscript:alert(1)', '\njavascript:alert(1)',
    'data:text/html,<script>alert(1)</script>', 'data:text/html;base64,PHNjcmlwdD4=', 'blob:https://example.com/0b1e',
    'vbscript:msgbox(1)', 'file:///etc/passwd', 'ftp://example.com/', 'about:blank', 'chrome://settings', 'mailto:a@example.com',
    '/relative', 'relative/path', '?q=1', '#frag', '//evil.example/', '\\\\evil.example\\x', 'http:evil.example', 'https:/evil.example',
    'http://', 'https://user:pw@evil.example/', 'https://user@evil.example/', 'https://exa mple.com/', ' https://example.com/',
    'https://example.com/\u0000', 'http://[::1', '',
  ];
  for (const url of refused) {
    await s.bridge.handleMessage(from(s.cal, req('navigate', { url })));
    assert.equal(lastReply(s.cal).value, false, JSON.stringify(url));
  }
  for (const url of [42, null, undefined, { href: 'https://x/' }, 'https://x/' + 'a'.repeat(2048)]) {
    await s.bridge.handleMessage(from(s.cal, req('navigate', { url })));
    assert.equal(lastReply(s.cal).error.code, 'invalid_params', String(url).slice(0, 40));
  }
  assert.equal(opened.length, 0);
  for (const url of refused) assert.equal(kit.checkNavigateUrl(url), null, JSON.stringify(url));
  // Without an open function (not a browser host) nothing opens either.
  const t = setup();
  await t.bridge.handleMessage(from(t.cal, req('navigate', { url: 'https://example.com/' })));
  assert.equal(lastReply(t.cal).value, false);
});

test('host: setViewMode is false unless onViewMode says true', async () => {
  const s = setup();
  await s.bridge.handleMessage(from(s.cal, req('setViewMode', { mode: 'fullscreen' })));
  assert.equal(lastReply(s.cal).value, false);
  const calls = [];
  for (const [answer, want] of [[true, true], [false, false], ['yes', false], [1, false], [Promise.resolve(true), true], [Promise.reject(new Error('x')), false]]) {
    const t = setup({ cal: { onViewMode: (...args) => { calls.push(args); return answer; } } });
    await t.bridge.handleMessage(from(t.cal, req('setViewMode', { mode: 'fullscreen' })));
    assert.equal(lastReply(t.cal).value, want, String(answer));
  }
  assert.deepEqual(calls[0], ['fullscreen', 'calendar']);
  const u = setup({ cal: { onViewMode: () => { throw new Error('boom'); } } });
  await u.bridge.handleMessage(from(u.cal, req('setViewMode', { mode: 'normal' })));
  assert.equal(lastReply(u.cal).value, false);
  for (const mode of ['', 'full screen', 'x'.repeat(65), 7, undefined]) {
    await u.bridge.handleMessage(from(u.cal, req('setViewMode', { mode })));
    assert.equal(lastReply(u.cal).error.code, 'invalid_params', String(mode));
  }
});

test('host: callAppspaceAPI answers 404 unless the host registered the name; nothing reaches the sidecar', async () => {
  const s = setup();
  for (const name of ['getDevice', 'constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    await s.bridge.handleMessage(from(s.cal, req('appspaceApi', { name, args: { a: 1 } })));
    assert.deepEqual(lastReply(s.cal).value, { status: 404, statusText: 'Not Found', data: null }, name);
  }
  assert.equal(s.requests.length, 0);
});

test('host: a registered appspaceApi handler gets a copy of the args and answers 200, or 500 when it fails', async () => {
  const got = [];
  const deferred = {};
  const s = setup({ cal: { appspaceApi: {
    getDevice: (args, widget) => { got.push([args, widget]); return { name: 'lobby-1', tags: ['a'] }; },
    slow: async (args) => ({ echo: args }),
    nothing: () => undefined,
    fails: () => { throw new Error('secret host detail'); },
    rejects: async () => { throw new Error('nope'); },
    unsendable: () => ({ f: () => 1 }),
    huge: () => 'x'.repeat(1048577),
  } } });
  const args = { ids: [1, 2], nested: { ok: true }, s: 'x' };
  await s.bridge.handleMessage(from(s.cal, req('appspaceApi', { name: 'getDevice', args })));
  assert.deepEqual(lastReply(s.cal).value, { status: 200, statusText: 'OK', data: { name: 'lobby-1', tags: ['a'] } });
  assert.deepEqual(got, [[args, 'calendar']]);
  assert.notEqual(got[0][0], args, 'the handler gets a copy');
  await s.bridge.handleMessage(from(s.cal, req('appspaceApi', { name: 'slow', args: [1] })));
  assert.deepEqual(lastReply(s.cal).value, { status: 200, statusText: 'OK', data: { echo: [1] } });
  await s.bridge.handleMessage(from(s.cal, req('appspaceApi', { name: 'nothing' })));
  assert.deepEqual(lastReply(s.cal).value, { status: 200, statusText: 'OK', data: null });
  for (const name of ['fails', 'rejects', 'unsendable', 'huge']) {
    await s.bridge.handleMessage(from(s.cal, req('appspaceApi', { name })));
    assert.deepEqual(lastReply(s.cal).value, { status: 500, statusText: 'Internal Server Error', data: null }, name);
  }
  assert.ok(!JSON.stringify(s.cal.inbox).includes('secret host detail'));
  // The other frame has no handlers.
  await s.bridge.handleMessage(from(s.saas, req('appspaceApi', { name: 'getDevice' })));
  assert.deepEqual(lastReply(s.saas).value, { status: 404, statusText: 'Not Found', data: null });
  // Bad names and args never reach a handler.
  const bad = [
    [{ name: 'a b' }, 'invalid_name'], [{ name: 'x'.repeat(129) }, 'invalid_name'], [{}, 'invalid_name'],
    [{ name: 'getDevice', args: JSON.parse('['.repeat(17) + ']'.repeat(17)) }, 'invalid_params'],
    [{ name: 'getDevice', args: { s: 'x'.repeat(65537) } }, 'invalid_params'],
    [{ name: 'getDevice', args: Array.from({ length: 4097 }, () => 0) }, 'invalid_params'],
    [{ name: 'getDevice', args: new Date() }, 'invalid_params'],
    [{ name: 'getDevice', args: { n: NaN } }, 'invalid_params'],
    [{ name: 'getDevice', args: undefined }, 'invalid_params'],
    [{ name: 'getDevice', widget: 'my-saas' }, 'invalid_message'],
  ];
  for (const [f, code] of bad) {
    await s.bridge.handleMessage(from(s.cal, req('appspaceApi', f)));
    assert.equal(lastReply(s.cal).error.code, code, JSON.stringify(f).slice(0, 60));
  }
  assert.equal(got.length, 1);
  assert.equal(s.requests.length, 0);
  assert.throws(() => kit.createBridge({}).register({ frame: fakeFrame(), widget: 'w', sidecar: 'http://s', context: 't', appspaceApi: { x: 'not a function' } }), /appspaceApi\.x/);
  void deferred;
});

test('host: unknown types and unexpected keys are refused; the answer type matches the request', async () => {
  const s = setup();
  for (const type of ['getToken', 'eval', 'ready', 'reply', '__proto__', 'constructor', 'toString', 42]) {
    await s.bridge.handleMessage(from(s.cal, req(type)));
    assert.deepEqual(lastReply(s.cal), { widgetgate: 1, type: 'result', id: 'r1', error: { code: 'invalid_message', message: 'unsupported message type' } }, String(type));
  }
  const good = { getConfiguration: {}, getUserInfo: {}, setHeight: { height: 1 }, lifecycle: { state: 'ready' }, analytics: { name: 'e' },
    navigate: { url: 'https://x/' }, setViewMode: { mode: 'm' }, appspaceApi: { name: 'n' } };
  for (const [type, fields] of Object.entries(good)) {
    await s.bridge.handleMessage(from(s.cal, req(type, { ...fields, extra: 1 })));
    assert.equal(lastReply(s.cal).type, 'reply', type);
    assert.equal(lastReply(s.cal).error.code, 'invalid_message', type);
  }
  assert.equal(s.requests.length, 0);
});

test('host: at most MAX_IN_FLIGHT requests per frame, whatever their type', async () => {
  const release = [];
  const s = setup({ cal: { appspaceApi: { wait: () => new Promise((r) => release.push(r)) } } });
  const busy = Array.from({ length: kit.MAX_IN_FLIGHT }, (_, i) => s.bridge.handleMessage(from(s.cal, req('appspaceApi', { name: 'wait' }, 'w' + i))));
  await new Promise((r) => setImmediate(r));
  assert.equal(release.length, kit.MAX_IN_FLIGHT);
  await s.bridge.handleMessage(from(s.cal, req('getConfiguration', {}, 'over')));
  assert.deepEqual(lastReply(s.cal), { widgetgate: 1, type: 'reply', id: 'over', error: { code: 'too_many_calls', message: 'too many calls in flight (at most 32)' } });
  await s.bridge.handleMessage(from(s.cal, call({ id: 'over2' })));
  assert.equal(lastReply(s.cal).type, 'result');
  assert.equal(lastReply(s.cal).error.code, 'too_many_calls');
  assert.equal(s.requests.length, 0);
  // Another frame is not held up.
  await s.bridge.handleMessage(from(s.saas, req('setHeight', { height: 100 })));
  assert.equal(lastReply(s.saas).value, 100);
  release.forEach((r) => r(1));
  await Promise.all(busy);
  await s.bridge.handleMessage(from(s.cal, req('setHeight', { height: 100 }, 'after')));
  assert.equal(lastReply(s.cal).value, 100);
});

// ---- both sides together ------------------------------------------------------

// wire connects a widget window (installWidget) to a bridge as a browser
// would: the widget's parent.postMessage reaches handleMessage with the
// frame's window as source and origin "null"; the frame's postMessage
// reaches the widget's listeners with the parent as source.
function wire({ respond, spec = {}, deps = {} } = {}) {
  const requests = [];
  const fetch = async (url, init) => {
    requests.push({ url, init });
    const r = respond ? respond(url, init, requests.length) : { status: 200, body: contextBody };
    const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    return { status: r.status, statusText: r.statusText ?? '', headers: new Headers({ 'Content-Type': r.contentType ?? 'application/json' }), text: async () => text };
  };
  const bridge = kit.createBridge({ fetch, ...deps });
  const win = fakeEventWindow();
  const handled = [];
  win.parent = {
    postMessage(msg, target) {
      assert.equal(target, '*');
      handled.push(bridge.handleMessage({ source: frame.contentWindow, origin: 'null', data: structuredClone(msg) }));
    },
  };
  const frame = { style: {}, contentWindow: { postMessage(msg, target) { assert.equal(target, '*'); win.deliver(win.parent, structuredClone(msg)); } } };
  bridge.register({ frame, widget: 'calendar', sidecar: 'http://sidecar.test/sidecar', context: 'tok-cal', ...spec });
  const timers = fakeTimers();
  kit.installWidget(win, { setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout, libraryUrl: 'http://sidecar.test/sidecar/widgetgate.js' });
  return { bridge, win, frame, requests, handled, timers, m: bridge.mounts()[0] };
}

test('both sides: a widget written against the Appspace API runs unchanged', async () => {
  const analytics = [];
  const w = wire({ spec: { onAnalyticsEvent: (e) => analytics.push(e), appspaceApi: { getDevice: () => ({ id: 'd1' }) } } });
  const api = await w.win.appspace.waitForWidgetApi();
  assert.equal(w.win.appspace.widgetApi, api);
  assert.deepEqual(await api.getConfiguration(), { data: { configuration: { title: { value: 'Lobby' }, maxItems: { value: 5 }, color: { value: null } } } });
  assert.deepEqual(await api.getUserInfo(), { displayName: 'Ann Example', email: 'ann@example.com', language: 'en-GB' });
  assert.equal(w.requests.length, 2);
  assert.ok(w.requests.every((r) => r.url === 'http://sidecar.test/sidecar/widgets/calendar/context' && r.init.headers['X-Widget-Context'] === 'tok-cal'));
  assert.equal(await api.setHeight(9999), 2000);
  assert.equal(w.frame.style.height, '2000px');
  assert.equal(await api.onReady(), undefined);
  assert.equal(await api.raiseAnalyticsEvent('tile.click', { n: 1 }), undefined);
  assert.deepEqual(analytics, [{ widget: 'calendar', name: 'tile.click', meta: { n: 1 } }]);
  assert.equal(await api.navigate('javascript:alert(1)'), false);
  assert.equal(await api.setViewMode('fullscreen'), false);
  assert.deepEqual(await api.callAppspaceAPI('getDevice'), { status: 200, statusText: 'OK', data: { id: 'd1' } });
  assert.deepEqual(await api.callAppspaceAPI('getPlaylist', { a: 1 }), { status: 404, statusText: 'Not Found', data: null });
  assert.deepEqual(w.m.counts(), { loading: 0, ready: 1, loaded: 0, error: 0, analytics: 1 });
  assert.deepEqual(await api.getInfo(), { version: kit.KIT_VERSION, libraryUrl: 'http://sidecar.test/sidecar/widgetgate.js' });
});

test('both sides: a /context problem rejects getConfiguration with the problem\'s code', async () => {
  const w = wire({ respond: () => ({ status: 503, contentType: 'application/problem+json', body: { status: 503, code: 'vault_unavailable', message: 'Vault is unreachable' } }) });
  const api = await w.win.appspace.waitForWidgetApi();
  await assert.rejects(api.getConfiguration(), (err) => err instanceof Error && err.code === 'vault_unavailable' && /getConfiguration\(\) failed: Vault is unreachable/.test(err.message));
  await assert.rejects(api.getUserInfo(), (err) => err.code === 'vault_unavailable');
});

// ---- host role: the mount UI on a fake DOM --------------------------------------

class FakeElement {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.attributes = new Map();
    this.children = [];
    this.parentNode = null;
    this.style = {};
    this.className = '';
    this.text = '';
    if (tag === 'iframe') {
      const inbox = [];
      this.inbox = inbox;
      this.contentWindow = { postMessage(msg, target) { inbox.push({ msg: structuredClone(msg), target }); } };
    }
  }
  setAttribute(k, v) { this.attributes.set(k, String(v)); }
  getAttribute(k) { return this.attributes.has(k) ? this.attributes.get(k) : null; }
  removeAttribute(k) { this.attributes.delete(k); }
  appendChild(c) { if (c.parentNode) c.parentNode.removeChild(c); this.children.push(c); c.parentNode = this; return c; }
  removeChild(c) { const i = this.children.indexOf(c); if (i < 0) throw new Error('not a child'); this.children.splice(i, 1); c.parentNode = null; return c; }
  get textContent() { return this.text + this.children.map((c) => c.textContent).join(''); }
  set textContent(v) { this.text = String(v); this.children = []; }
  set innerHTML(v) { throw new Error('innerHTML must never be used'); }
  get innerHTML() { throw new Error('innerHTML must never be used'); }
  insertAdjacentHTML() { throw new Error('insertAdjacentHTML must never be used'); }
  byClass(name) { return this.children.filter((c) => c.className === name); }
}

function fakeHostWindow(respond) {
  const listeners = [];
  const opened = [];
  const timers = fakeTimers();
  const win = {
    timers,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    document: { createElement: (tag) => new FakeElement(tag), querySelector: () => null },
    location: { href: 'http://host.test/lobby' },
    console: { warn() {} },
    opened,
    addEventListener(type, fn) { if (type === 'message') listeners.push(fn); },
    fetch: async () => { const r = respond(); return { status: r.status, statusText: '', headers: new Headers({ 'Content-Type': 'application/json' }), text: async () => JSON.stringify(r.body) }; },
    open: (...args) => { opened.push(args); return null; },
    dispatch: (frame, data) => Promise.all(listeners.map((fn) => fn({ source: frame.contentWindow, origin: 'null', data }))),
  };
  kit.installHost(win);
  return win;
}

test('host mount: a loading skeleton until ready, the state on the container, the host\'s own error text', async () => {
  const win = fakeHostWindow(() => ({ status: 200, body: contextBody }));
  assert.equal(win.WidgetGate.kitVersion, kit.KIT_VERSION);
  const el = new FakeElement('div');
  const states = [];
  const mount = win.WidgetGate.mount(el, { sidecar: 'http://sidecar.test/sidecar/', widget: 'calendar', context: 'tok', title: 'Cal',
    onLifecycle: (state, widget, detail) => states.push([state, widget, detail]) });
  const frame = mount.frame;
  assert.equal(frame.getAttribute('sandbox'), 'allow-scripts');
  assert.equal(frame.src, 'http://sidecar.test/sidecar/widgets/calendar/widget.html');
  assert.equal(el.getAttribute('data-widgetgate-state'), 'loading');
  assert.equal(el.byClass('widgetgate-skeleton').length, 1);
  assert.equal(mount.state(), 'loading');

  await win.dispatch(frame, req('lifecycle', { state: 'loading' }, 'a'));
  assert.equal(el.byClass('widgetgate-skeleton').length, 1, 'onLoading keeps the skeleton');
  await win.dispatch(frame, req('lifecycle', { state: 'ready' }, 'b'));
  assert.equal(el.getAttribute('data-widgetgate-state'), 'ready');
  assert.equal(el.byClass('widgetgate-skeleton').length, 0);
  assert.equal(el.getAttribute('aria-busy'), null);
  assert.deepEqual(el.children, [frame]);

  const html = '<img src=x onerror=alert(1)>';
  await win.dispatch(frame, req('lifecycle', { state: 'error', message: html }, 'c'));
  assert.equal(el.getAttribute('data-widgetgate-state'), 'error');
  const [box] = el.byClass('widgetgate-error');
  assert.equal(box.textContent, kit.ERROR_TEXT);
  assert.ok(!el.textContent.includes('onerror'), 'the widget\'s text is not shown');
  await win.dispatch(frame, req('lifecycle', { state: 'loaded' }, 'd'));
  assert.equal(el.byClass('widgetgate-error').length, 0);
  assert.equal(el.getAttribute('data-widgetgate-state'), 'loaded');
  await win.dispatch(frame, req('lifecycle', { state: 'loading' }, 'e'));
  assert.equal(el.byClass('widgetgate-skeleton').length, 0, 'the skeleton does not come back');
  assert.deepEqual(states.map((s) => s[0]), ['loading', 'ready', 'error', 'loaded', 'loading']);
  assert.deepEqual(states[2], ['error', 'calendar', { message: html }]);
  await win.dispatch(frame, req('analytics', { name: 'e' }, 'f'));
  assert.deepEqual(mount.counts(), { loading: 2, ready: 1, loaded: 1, error: 1, analytics: 1 });
  assert.equal(mount.state(), 'loading');
  assert.equal(frame.inbox.length, 6);

  await win.dispatch(frame, req('setHeight', { height: 1 }, 'g'));
  assert.equal(frame.style.height, '40px');
  await win.dispatch(frame, req('navigate', { url: 'https://example.com/' }, 'h'));
  await win.dispatch(frame, req('navigate', { url: 'data:text/html,x' }, 'i'));
  assert.deepEqual(win.opened, [['https://example.com/', '_blank', 'noopener,noreferrer']]);

  mount.unmount();
  assert.deepEqual(el.children, []);
  assert.equal(el.getAttribute('data-widgetgate-state'), null);
  assert.equal((await win.dispatch(frame, req('lifecycle', { state: 'ready' })))[0], false);
});

test('host mount: a widget that sends no lifecycle signal is shown after readyTimeout', async () => {
  const win = fakeHostWindow(() => ({ status: 200, body: contextBody }));
  const el = new FakeElement('div');
  const states = [];
  const mount = win.WidgetGate.mount(el, { sidecar: 'http://sidecar.test/sidecar', widget: 'calendar', context: 'tok',
    onLifecycle: (state, widget, detail) => states.push([state, widget, detail]) });
  assert.deepEqual(win.timers.armed().map((t) => t.ms), [kit.DEFAULT_READY_TIMEOUT_MS]);
  await win.dispatch(mount.frame, req('lifecycle', { state: 'loading' }, 'a'));
  assert.equal(win.timers.armed().length, 1, 'onLoading is not a sign of life that shows the widget');
  win.timers.fireNext();
  assert.equal(el.getAttribute('data-widgetgate-state'), 'timeout');
  assert.equal(el.byClass('widgetgate-skeleton').length, 0);
  assert.equal(el.getAttribute('aria-busy'), null);
  assert.equal(mount.state(), 'timeout');
  assert.deepEqual(states, [['loading', 'calendar', undefined], ['timeout', 'calendar', undefined]]);
  // A late signal still counts and shows.
  await win.dispatch(mount.frame, req('lifecycle', { state: 'ready' }, 'b'));
  assert.equal(el.getAttribute('data-widgetgate-state'), 'ready');
  assert.equal(mount.state(), 'ready');
  assert.deepEqual(mount.counts(), { loading: 1, ready: 1, loaded: 0, error: 0, analytics: 0 });
});

test('host mount: readyTimeout is cancelled by the first ready, loaded or error, and by unmount', async () => {
  for (const signal of ['ready', 'loaded', 'error']) {
    const win = fakeHostWindow(() => ({ status: 200, body: contextBody }));
    const el = new FakeElement('div');
    const mount = win.WidgetGate.mount(el, { sidecar: 'http://sidecar.test/sidecar', widget: 'calendar', context: 'tok', readyTimeout: 500 });
    assert.deepEqual(win.timers.armed().map((t) => t.ms), [500]);
    await win.dispatch(mount.frame, req('lifecycle', { state: signal }));
    assert.equal(win.timers.armed().length, 0, `${signal} cancels the timeout`);
    assert.equal(el.getAttribute('data-widgetgate-state'), signal);
  }
  const win = fakeHostWindow(() => ({ status: 200, body: contextBody }));
  const mount = win.WidgetGate.mount(new FakeElement('div'), { sidecar: 'http://sidecar.test/sidecar', widget: 'calendar', context: 'tok' });
  mount.unmount();
  assert.equal(win.timers.armed().length, 0, 'unmount cancels the timeout');
  win.WidgetGate.mount(new FakeElement('div'), { sidecar: 'http://sidecar.test/sidecar', widget: 'calendar', context: 'tok', readyTimeout: 0 });
  assert.equal(win.timers.timers.length, 1, 'readyTimeout 0 arms no timer');
  for (const bad of [-1, NaN, Infinity, '500', null]) {
    assert.throws(() => win.WidgetGate.mount(new FakeElement('div'), { sidecar: 'http://s', widget: 'w', context: 't', readyTimeout: bad }), /readyTimeout/);
  }
});

test('host mount: an error before ready replaces the skeleton with the error text', async () => {
  const win = fakeHostWindow(() => ({ status: 200, body: contextBody }));
  const el = new FakeElement('div');
  const mount = win.WidgetGate.mount(el, { sidecar: 'http://sidecar.test/sidecar', widget: 'calendar', context: 'tok' });
  await win.dispatch(mount.frame, req('lifecycle', { state: 'error' }));
  assert.equal(el.byClass('widgetgate-skeleton').length, 0);
  assert.equal(el.byClass('widgetgate-error').length, 1);
  assert.equal(el.getAttribute('data-widgetgate-state'), 'error');
  assert.throws(() => win.WidgetGate.mount(new FakeElement('div'), { sidecar: 'http://s', widget: 'w', context: 't', onLifecycle: 'x' }), /onLifecycle/);
});
