// Unit tests of widgetgate.js's bridge: message validation on both sides,
// source checks, and what the host sends to the sidecar.
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
  return { inbox, contentWindow: { postMessage(msg, target) { inbox.push({ msg: structuredClone(msg), target }); } } };
}

function setup({ respond, context, now } = {}) {
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
  const bridge = kit.createBridge({ fetch, now: now ?? (() => clock.t) });
  const cal = fakeFrame();
  const saas = fakeFrame();
  bridge.register({ frame: cal, widget: 'calendar', sidecar: 'http://sidecar.test/sidecar/', context: ctx });
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
