// Headless Chromium check of widgetgate's operator page (widgetgate_admin),
// run by e2e/admin_browser_test.go (TestAdminBrowser) against a running
// stack: Vault, a stand-in OAuth authorization server, and widgetgate with
// the admin handler mounted.
//
//   ADMIN_URL=http://127.0.0.1:PORT/admin/ ADMIN_TOKEN=… EXPECT_EMAIL=ada@example.com \
//   OUT_DIR=/some/dir node e2e/browser/admin.test.mjs
//
// What an administrator does: open the page, give the admin token, click
// Connect on a bundled passport, click Allow in the provider's pop-up, see
// the passport Active with the account's email; then Disconnect it and
// see it Inactive. Then, when UPLOAD_DIR is set, the widget packages:
// the refused ones are listed with every error; a package uploaded through
// the file input serves and its bundled passport is ready to connect; a
// package with problems is refused with each one listed and nothing
// written; a folder's id (409) and an oversized package (413) say why;
// Delete removes a package. Last, with RECONNECT_PASSPORT, the banner for
// passports that need reconnecting; with CONFIG_WIDGET, an instance's
// configuration form. Screenshots of each state go to
// OUT_DIR. It exits non-zero, saying why, on any failure, including any
// error in the page's console other than the refusals it provokes.
//
// Environment:
//   ADMIN_URL      the operator page (required)
//   ADMIN_TOKEN    the admin bearer token; empty when an auth directive in
//                  front of the handler does the job (no token form then)
//   EXPECT_EMAIL   the account email the provider's profile gives (required)
//   EXPECT_NAME    the account name, checked when set
//   PROVIDER       the bundled provider to connect (default custom:my-api-connector)
//   BIND_INSTANCE, BIND_AUTH_KEY
//                  when set: add this widget instance on the page, check the
//                  new passport is pre-selected for this authKey, and save
//   PAUSE_AFTER_CONNECT=1
//                  once connected (and bound), print "READY passport=<id>"
//                  and wait for a line "continue" on stdin before
//                  disconnecting (the Go test calls a widget meanwhile)
//   UPLOAD_DIR     a folder holding <id>.zip for each of the following (the
//                  widget id is prefilled from the file name):
//   UPLOAD_GOOD    a package bundling a passport (custom:<id>); it is
//                  uploaded, checked, then deleted on the page
//   UPLOAD_BAD     a package with two problems (422 invalid_package)
//   UPLOAD_HUGE    a package over the size bound (413 package_too_large)
//   FOLDER_WIDGET  a widget served from a folder: uploading under its id is 409
//   REFUSED        the refused packages api/widgets lists, as
//                  id:serving|not-serving,…; the not-serving ones are
//                  deleted on the page
//   RECONNECT_PASSPORT, RECONNECT_NAME
//                  when set: print "READY reconnect" and wait for
//                  "continue" (the Go test makes that passport
//                  reconnect_required meanwhile), then Reload, see the
//                  banner name it, reconnect it in the pop-up, see the
//                  banner go
//   CONFIG_INSTANCE, CONFIG_WIDGET
//                  when set: the configuration form of that widget (the
//                  fields of boardSchema, e2e/admin_config_browser_test.go)
//                  on that instance: defaults, a refused save with each
//                  error next to its field, a good save, reset to defaults;
//                  "READY config-<stage>" (start, refused, saved, reset)
//                  and a wait for "continue" after each, for the Go test
//                  to check Vault
//   OUT_DIR        screenshots and console.log (default e2e/browser/out/admin)
//   CHROMIUM_BIN   default /usr/bin/chromium
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { launch } from './launch.mjs';

const ADMIN_URL = process.env.ADMIN_URL;
const ADMIN_TOKEN = process.env.ADMIN_TOKEN || '';
const EXPECT_EMAIL = process.env.EXPECT_EMAIL;
const EXPECT_NAME = process.env.EXPECT_NAME || '';
const PROVIDER = process.env.PROVIDER || 'custom:my-api-connector';
const BIND_INSTANCE = process.env.BIND_INSTANCE || '';
const BIND_AUTH_KEY = process.env.BIND_AUTH_KEY || '';
const PAUSE = process.env.PAUSE_AFTER_CONNECT === '1';
const UPLOAD_DIR = process.env.UPLOAD_DIR || '';
const UPLOAD_GOOD = process.env.UPLOAD_GOOD || '';
const UPLOAD_BAD = process.env.UPLOAD_BAD || '';
const UPLOAD_HUGE = process.env.UPLOAD_HUGE || '';
const FOLDER_WIDGET = process.env.FOLDER_WIDGET || '';
const REFUSED = (process.env.REFUSED || '').split(',').filter(Boolean).map((s) => {
  const [id, serving] = s.split(':');
  return { id, serving: serving === 'serving' };
});
const RECONNECT_PASSPORT = process.env.RECONNECT_PASSPORT || '';
const RECONNECT_NAME = process.env.RECONNECT_NAME || RECONNECT_PASSPORT;
const CONFIG_INSTANCE = process.env.CONFIG_INSTANCE || '';
const CONFIG_WIDGET = process.env.CONFIG_WIDGET || '';
const OUT_DIR = process.env.OUT_DIR || join(import.meta.dirname ?? '.', 'out', 'admin');
const TIMEOUT = 30_000;

const failures = [];
const fail = (msg) => { failures.push(msg); console.error('FAIL: ' + msg); };
const log = (msg) => console.log(msg);

if (!ADMIN_URL || !EXPECT_EMAIL) {
  console.error('admin.test.mjs: set ADMIN_URL and EXPECT_EMAIL (e2e/admin_browser_test.go does this)');
  process.exit(2);
}
const adminOrigin = new URL(ADMIN_URL).origin;
mkdirSync(OUT_DIR, { recursive: true });
const consoleLog = join(OUT_DIR, 'console.log');
writeFileSync(consoleLog, '');

const { context, profile } = await launch('admin.test.mjs');

// Every page's console goes to console.log. Errors on widgetgate's origin
// (the operator page, and the callback page in the pop-up) fail the run;
// the stand-in provider's own pages are only logged.
const errors = [];
// Before the token is entered, the page may learn that it needs one from
// a refused API call (401). Allowed once, unless the handler told the page
// up front (<body data-auth="token">): then the page must not even try.
let tokenGiven = false;
const early401 = [];
let authHint = false;
// Refusals the test provokes on purpose (an upload answered 422, 409,
// 413): Chromium logs each failed request as a console error. Each entry
// allows one such message for that API URL and status.
const provoked = [];
const apiURL = (path) => new URL('api/' + path, ADMIN_URL).href;
const expectRefusal = (path, status) => provoked.push({ url: apiURL(path), status });
// Every dialog (window.confirm) is accepted, and kept here.
const dialogs = [];
function watch(page, label) {
  page.on('console', (msg) => {
    const where = msg.location()?.url ?? '';
    writeFileSync(consoleLog, `[${label}] [${msg.type()}] ${msg.text()} (${where})\n`, { flag: 'a' });
    if (msg.type() !== 'error') return;
    const pageURL = page.url();
    const ours = where.startsWith(adminOrigin) || pageURL.startsWith(adminOrigin) || pageURL === 'about:blank';
    if (!ours) return;
    if (label === 'admin' && ADMIN_TOKEN && !tokenGiven && early401.length === 0 &&
        /status of 401/.test(msg.text()) && where.startsWith(new URL('api/', ADMIN_URL).href)) {
      early401.push(`${label}: ${msg.text()} (${where})`);
      return;
    }
    const i = provoked.findIndex((p) => where === p.url && msg.text().includes(`status of ${p.status}`));
    if (label === 'admin' && i >= 0) {
      provoked.splice(i, 1);
      return;
    }
    errors.push(`${label}: ${msg.text()} (${where || pageURL})`);
  });
  page.on('pageerror', (err) => {
    writeFileSync(consoleLog, `[${label}] [pageerror] ${err.stack || err}\n`, { flag: 'a' });
    errors.push(`${label}: page error: ${err.stack || err}`);
  });
  page.on('dialog', async (d) => {
    writeFileSync(consoleLog, `[${label}] [dialog ${d.type()}] ${d.message()}\n`, { flag: 'a' });
    dialogs.push(d.message());
    await d.accept().catch(() => {});
  });
}

// stdin's lines, read by waitForGo: one reader for every pause.
let stdinLines = null;
async function waitForGo() {
  stdinLines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  for (;;) {
    const { value, done } = await stdinLines.next();
    if (done) throw new Error('stdin closed before "continue"');
    if (value.trim() === 'continue') return;
  }
}

// adminAPI calls the admin API as the test itself (not through the page),
// with body as JSON when given.
async function adminAPI(method, path, body) {
  const headers = ADMIN_TOKEN ? { Authorization: 'Bearer ' + ADMIN_TOKEN } : {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await context.request.fetch(apiURL(path), {
    method, headers, ...(body !== undefined ? { data: JSON.stringify(body) } : {}),
  });
  let json = null;
  try { json = await res.json(); } catch { /* not JSON */ }
  return { status: res.status(), json };
}

// upload picks file in the page's file input, checks the widget id it
// prefills, optionally types another, clicks Upload and returns the API's
// answer ({status, headers} of the request, or {failed} when it got no
// answer). Chromium does not keep the body of such an answer for the
// inspector, so refused uploads are sent again by replay to see the
// problem the page was given.
async function upload(page, file, { prefill, id } = {}) {
  await page.locator('#upload-file').setInputFiles(file);
  const got = await page.locator('#upload-id').inputValue();
  if (prefill !== undefined && got !== prefill) fail(`picking ${file} prefills the widget id ${JSON.stringify(got)}, want ${JSON.stringify(prefill)}`);
  if (id !== undefined) await page.locator('#upload-id').fill(id);
  const url = apiURL('widgets/' + encodeURIComponent(id ?? got));
  const isIt = (req) => req.url() === url && req.method() === 'PUT';
  const answered = page.waitForResponse((r) => isIt(r.request()), { timeout: TIMEOUT })
    .then(async (r) => ({ status: r.status(), headers: await r.request().allHeaders() }));
  const failed = page.waitForEvent('requestfailed', { predicate: isIt, timeout: TIMEOUT })
    .then((req) => ({ failed: req.failure()?.errorText || 'failed' }));
  const [out] = await Promise.all([Promise.race([answered, failed]), page.locator('#upload-submit').click()]);
  answered.catch(() => {});
  failed.catch(() => {});
  await page.locator('#upload-submit:not([disabled])').waitFor({ state: 'attached' });
  return out;
}

// replay sends a refused upload again, as the test, for the problem the
// API answers (a refused upload writes nothing).
async function replay(id, file) {
  const res = await context.request.fetch(apiURL('widgets/' + encodeURIComponent(id)), {
    method: 'PUT', data: readFileSync(file),
    headers: { 'Content-Type': 'application/zip', ...(ADMIN_TOKEN ? { Authorization: 'Bearer ' + ADMIN_TOKEN } : {}) },
  });
  let json = null;
  try { json = await res.json(); } catch { /* not JSON */ }
  return { status: res.status(), json };
}

// says reports whether the page's sentence carries the API's message (the
// page starts it with a capital and may end it with a full stop).
const says = (shown, message) => !!message && shown.toLowerCase().includes(message.toLowerCase());

const texts = (loc) => loc.evaluateAll((els) => els.map((e) => e.textContent));

const rowOf = (page, id) => page.locator(`#passport-rows tr[data-passport="${id}"]`);

try {
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  watch(page, 'admin');
  let popups = 0;
  context.on('page', (p) => { if (p !== page) watch(p, `popup${++popups}`); });

  // 1. Open the page; give the admin token when asked.
  const resp = await page.goto(ADMIN_URL, { waitUntil: 'load' });
  if (!resp || resp.status() !== 200) throw new Error(`the operator page answered ${resp && resp.status()}`);
  authHint = /<body[^>]*\sdata-auth="token"/.test(await resp.text());
  const title = await page.locator('h1').innerText();
  if (!/widgetgate\s+—\s+Passports/.test(title)) fail(`page heading is ${JSON.stringify(title)}`);
  if (ADMIN_TOKEN) {
    await page.locator('#token-input').waitFor({ state: 'visible' });
    log('ok: the page asks for the admin token');
    await page.locator('#token-input').fill(ADMIN_TOKEN);
    tokenGiven = true;
    await page.locator('#login-submit').click();
  }
  await page.locator('body[data-state="ready"]').waitFor({ state: 'attached' }).catch(async () => {
    const state = await page.locator('body').getAttribute('data-state');
    if (state === 'login') {
      const why = await page.locator('#login-error').innerText().catch(() => '');
      throw new Error(`the page still asks for the admin token after it was given: ${JSON.stringify(why)}`);
    }
    const note = await page.locator('#notice-text').innerText().catch(() => '');
    throw new Error(`the page did not load its data (state ${state}; notice ${JSON.stringify(note)})`);
  });
  log('ok: passports loaded');

  // 2. The bundled provider has a row of its own with a Connect button.
  const bundled = page.locator(`#passport-rows tr[data-provider="${PROVIDER}"]`);
  if (await bundled.count() !== 1) {
    const rows = await page.locator('#passport-rows tr').evaluateAll((els) => els.map((e) => e.dataset.provider + ':' + e.dataset.status));
    throw new Error(`want exactly one row for ${PROVIDER} before connecting, got ${JSON.stringify(rows)}`);
  }
  if (await bundled.getAttribute('data-status') !== 'inactive') fail(`${PROVIDER} is not Inactive before connecting`);
  const badge = (await bundled.locator('[data-field="status"]').innerText()).trim();
  if (badge !== 'Inactive') fail(`${PROVIDER}'s status badge reads ${JSON.stringify(badge)}, want "Inactive"`);
  await page.screenshot({ path: join(OUT_DIR, 'admin-before.png'), fullPage: true });

  // 3. Connect: the provider's page opens in a pop-up; allow access there.
  const [popup] = await Promise.all([
    page.waitForEvent('popup'),
    bundled.locator('button[data-action="connect"]').click(),
  ]);
  log('ok: the connect pop-up opened');
  const allow = popup.locator('#allow');
  await allow.waitFor({ state: 'visible' });
  log(`ok: the pop-up shows the provider's consent page (${new URL(popup.url()).origin}${new URL(popup.url()).pathname})`);
  await popup.screenshot({ path: join(OUT_DIR, 'admin-popup.png') }).catch((err) => fail(`screenshot of the pop-up: ${err.message}`));
  // The callback page reports to the opener, then closes itself: the
  // click's own wait may see the pop-up go away.
  await allow.click().catch((err) => { if (!popup.isClosed()) throw err; });

  // 4. The passport turns Active, showing the account.
  const active = page.locator(`#passport-rows tr[data-provider="${PROVIDER}"][data-status="active"]`);
  try {
    await active.waitFor({ state: 'visible' });
  } catch {
    const row = await page.locator(`#passport-rows tr[data-provider="${PROVIDER}"]`).first().innerText().catch(() => '(no row)');
    const note = await page.locator('#notice-text').innerText().catch(() => '');
    const pop = popup.isClosed() ? '(closed)' : await popup.locator('body').innerText().catch(() => '(unreadable)');
    throw new Error(`${PROVIDER} did not turn Active within ${TIMEOUT / 1000} s; row: ${JSON.stringify(row)}; notice: ${JSON.stringify(note)}; pop-up: ${JSON.stringify(pop)}`);
  }
  const id = await active.getAttribute('data-passport');
  if (!id) throw new Error('the active row has no passport id');
  const row = rowOf(page, id);
  const email = (await row.locator('[data-field="account-email"]').innerText().catch(() => '')).trim();
  if (email !== EXPECT_EMAIL) fail(`passport ${id} shows account email ${JSON.stringify(email)}, want ${JSON.stringify(EXPECT_EMAIL)}`);
  else log(`ok: ${id} is Active as ${email}`);
  if (EXPECT_NAME) {
    const name = (await row.locator('[data-field="account-name"]').innerText().catch(() => '')).trim();
    if (name !== EXPECT_NAME) fail(`passport ${id} shows account name ${JSON.stringify(name)}, want ${JSON.stringify(EXPECT_NAME)}`);
  }
  const activeBadge = (await row.locator('[data-field="status"]').innerText()).trim();
  if (activeBadge !== 'Active') fail(`status badge reads ${JSON.stringify(activeBadge)}, want "Active"`);
  for (const action of ['connect', 'disconnect', 'delete']) {
    if (await row.locator(`button[data-action="${action}"]`).count() !== 1) fail(`the active passport has no ${action} button`);
  }
  const reconnect = (await row.locator('button[data-action="connect"]').innerText().catch(() => '')).trim();
  if (reconnect !== 'Reconnect') fail(`the active passport's connect button reads ${JSON.stringify(reconnect)}, want "Reconnect"`);
  const note = await page.locator('#notice-text').innerText().catch(() => '');
  if (!note.includes('connected')) fail(`the notice after connecting reads ${JSON.stringify(note)}`);
  if (!popup.isClosed()) await popup.waitForEvent('close', { timeout: 10_000 }).catch(() => fail('the pop-up did not close after connecting'));
  // Tidy: nothing sticks out sideways at this (laptop) width.
  const overflow = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    table: (() => { const w = document.querySelector('#passports').closest('.table-wrap'); return w.scrollWidth - w.clientWidth; })(),
  }));
  if (overflow.page > 0 || overflow.table > 0) fail(`the page scrolls sideways at 1400 px: ${JSON.stringify(overflow)}`);
  await page.screenshot({ path: join(OUT_DIR, 'admin-active.png'), fullPage: true });

  // 5. Bind it to a widget instance: the bundled passport is pre-selected.
  if (BIND_INSTANCE && BIND_AUTH_KEY) {
    await page.locator('#instance-input').fill(BIND_INSTANCE);
    await page.locator('#add-instance-submit').click();
    const card = page.locator(`#instances details[data-instance="${BIND_INSTANCE}"]`);
    await card.waitFor({ state: 'visible' });
    const selects = card.locator(`select[data-auth-key="${BIND_AUTH_KEY}"]`);
    if (await selects.count() < 1) throw new Error(`instance ${BIND_INSTANCE} shows no dropdown for ${BIND_AUTH_KEY}`);
    const picked = await selects.first().inputValue();
    if (picked !== id) fail(`the dropdown for ${BIND_AUTH_KEY} pre-selects ${JSON.stringify(picked)}, want the bundled passport ${id}`);
    else log(`ok: ${BIND_AUTH_KEY} pre-selects ${id}`);
    // Only passports of the authentication's provider are offered.
    const offered = await selects.first().locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
    if (offered.join(',') !== id) fail(`the dropdown for ${BIND_AUTH_KEY} offers ${JSON.stringify(offered)}, want only ${id}`);
    if (picked !== id) await selects.first().selectOption(id);
    await card.locator('button[data-action="save-bindings"]').click();
    await card.locator('[data-field="save-status"][data-state="saved"]').waitFor({ state: 'visible' }).catch(async () => {
      const st = await card.locator('[data-field="save-status"]').innerText().catch(() => '');
      throw new Error(`saving the bindings of ${BIND_INSTANCE} did not finish: ${JSON.stringify(st)}`);
    });
    log(`ok: ${BIND_INSTANCE} binds ${BIND_AUTH_KEY} to ${id}`);
    await page.screenshot({ path: join(OUT_DIR, 'admin-bound.png'), fullPage: true });
  }

  if (PAUSE) {
    console.log(`READY passport=${id}`);
    await waitForGo();
  }

  // 6. Disconnect: the passport is Inactive again, without the account.
  await row.locator('button[data-action="disconnect"]').click();
  try {
    await page.locator(`#passport-rows tr[data-passport="${id}"][data-status="inactive"]`).waitFor({ state: 'visible' });
  } catch {
    const text = await row.innerText().catch(() => '(no row)');
    const n = await page.locator('#notice-text').innerText().catch(() => '');
    throw new Error(`${id} did not turn Inactive after Disconnect; row: ${JSON.stringify(text)}; notice: ${JSON.stringify(n)}`);
  }
  const offBadge = (await row.locator('[data-field="status"]').innerText()).trim();
  if (offBadge !== 'Inactive') fail(`status badge after Disconnect reads ${JSON.stringify(offBadge)}, want "Inactive"`);
  if (await row.locator('[data-field="account-email"]').count() !== 0) fail('the disconnected passport still shows an account email');
  const connectAgain = (await row.locator('button[data-action="connect"]').innerText().catch(() => '')).trim();
  if (connectAgain !== 'Connect') fail(`the disconnected passport's button reads ${JSON.stringify(connectAgain)}, want "Connect"`);
  if (await row.locator('button[data-action="disconnect"]').count() !== 0) fail('the disconnected passport still has a Disconnect button');
  log(`ok: ${id} is Inactive after Disconnect`);
  await page.screenshot({ path: join(OUT_DIR, 'admin-inactive.png'), fullPage: true });

  // 7. Nothing on the page holds a token.
  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
  if (ADMIN_TOKEN && !stored.includes(ADMIN_TOKEN)) fail('the admin token is not kept in sessionStorage');
  const html = await page.content();
  if (ADMIN_TOKEN && html.includes(ADMIN_TOKEN)) fail('the admin token appears in the page');

  // 8. Widget packages: first the refused ones, listed with every error.
  if (UPLOAD_DIR) {
    const listed = await adminAPI('GET', 'widgets');
    const problems = listed.json?.problems ?? [];
    const section = page.locator('#problems');
    if (!await section.isVisible()) fail('the Refused packages section is not shown while api/widgets lists problems');
    const heading = (await section.locator('h3').innerText().catch(() => '')).trim();
    if (heading !== 'Refused packages') fail(`the refused packages' heading reads ${JSON.stringify(heading)}`);
    if (await page.locator('#problem-list > li').count() !== problems.length) fail(`the page lists ${await page.locator('#problem-list > li').count()} refused packages, api/widgets ${problems.length}`);
    for (const want of REFUSED) {
      const pb = problems.find((p) => p.widget === want.id);
      const item = page.locator(`#problem-list > li[data-widget="${want.id}"]`);
      if (!pb || pb.serving !== want.serving) { fail(`api/widgets: ${want.id} ${pb ? 'serving=' + pb.serving : 'not listed'}, want serving=${want.serving}`); continue; }
      if (await item.count() !== 1) { fail(`the refused package ${want.id} is not listed on the page`); continue; }
      const serving = (await item.locator('[data-field="serving"]').innerText()).trim();
      const wantServing = want.serving ? 'previous version still serves' : 'not serving';
      if (serving !== wantServing) fail(`the refused package ${want.id} says ${JSON.stringify(serving)}, want ${JSON.stringify(wantServing)}`);
      const lines = await texts(item.locator('[data-field="errors"] > li'));
      if (JSON.stringify(lines) !== JSON.stringify(pb.errors)) fail(`the refused package ${want.id} lists ${JSON.stringify(lines)}, want every error ${JSON.stringify(pb.errors)}`);
      const row = page.locator(`#widget-rows tr[data-widget="${want.id}"]`);
      if (want.serving && await row.getAttribute('data-refused').catch(() => null) !== 'true') fail(`${want.id}'s row does not say its newer version was refused`);
      if (!want.serving && await row.count() !== 0) fail(`${want.id}, refused and not serving, has a row among the serving widgets`);
      log(`ok: refused package ${want.id} (${serving}) lists its ${lines.length} error(s)`);
    }
    await section.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(OUT_DIR, 'admin-refused-packages.png'), fullPage: true });
  }

  // 9. Upload a good package: it serves, and its bundled passport is
  // there, highlighted, ready to connect.
  if (UPLOAD_DIR && UPLOAD_GOOD) {
    const r = await upload(page, join(UPLOAD_DIR, UPLOAD_GOOD + '.zip'), { prefill: UPLOAD_GOOD });
    if (r.status !== 200) throw new Error(`uploading ${UPLOAD_GOOD}: ${JSON.stringify(r)}`);
    if (r.headers['content-type'] !== 'application/zip') fail(`the upload was sent as ${JSON.stringify(r.headers['content-type'])}, want application/zip`);
    if (ADMIN_TOKEN && r.headers.authorization !== 'Bearer ' + ADMIN_TOKEN) fail('the upload did not carry the admin token');
    const pp = ((await adminAPI('GET', 'passports')).json?.passports ?? []).find((p) => p.provider === 'custom:' + UPLOAD_GOOD);
    if (!pp || pp.status !== 'inactive') throw new Error(`no inactive custom:${UPLOAD_GOOD} passport after the upload: ${JSON.stringify(pp)}`);
    await page.locator(`#widget-rows tr[data-widget="${UPLOAD_GOOD}"]`).waitFor({ state: 'visible' });
    const ready = page.locator(`#passport-rows tr[data-passport="${pp.id}"][data-ready="true"]`);
    await ready.waitFor({ state: 'visible' }).catch(() => fail(`the uploaded package's passport ${pp.id} is not highlighted`));
    const tag = (await ready.locator('[data-field="ready"]').innerText().catch(() => '')).trim();
    if (tag !== 'Ready to connect') fail(`the uploaded passport's tag reads ${JSON.stringify(tag)}, want "Ready to connect"`);
    const connect = ready.locator('button[data-action="connect"]');
    if (!await connect.isVisible() || (await connect.innerText()).trim() !== 'Connect') fail(`the uploaded passport ${pp.id} has no visible Connect button`);
    if (await ready.getAttribute('data-status') !== 'inactive') fail(`the uploaded passport ${pp.id} is not Inactive`);
    const ok = (await page.locator('#upload-ok').innerText().catch(() => '')).trim();
    if (!ok.includes('ready to connect')) fail(`after uploading, the page says ${JSON.stringify(ok)}`);
    if (await page.locator('#upload-error').isVisible()) fail('an upload error is shown after a good upload');
    const bound = page.locator(`#instances tr[data-widget="${UPLOAD_GOOD}"]`);
    if (BIND_INSTANCE && await bound.count() < 1) fail(`the bindings do not offer the uploaded widget ${UPLOAD_GOOD}`);
    const api = await adminAPI('GET', 'widgets');
    if (!(api.json?.widgets ?? []).some((w) => w.id === UPLOAD_GOOD && w.bundledProvider === 'custom:' + UPLOAD_GOOD)) fail(`api/widgets does not list ${UPLOAD_GOOD} after the upload`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (overflow > 0) fail(`the page scrolls sideways at 1400 px after the upload (${overflow} px)`);
    log(`ok: ${UPLOAD_GOOD} uploaded; its passport ${pp.id} is ready to connect`);
    await page.screenshot({ path: join(OUT_DIR, 'admin-upload-ok.png'), fullPage: true });

    // 10. A package with two problems: both listed, as text; nothing written.
    expectRefusal('widgets/' + UPLOAD_BAD, 422);
    const badAnswer = await upload(page, join(UPLOAD_DIR, UPLOAD_BAD + '.zip'), { prefill: UPLOAD_BAD });
    const bad = await replay(UPLOAD_BAD, join(UPLOAD_DIR, UPLOAD_BAD + '.zip'));
    if (badAnswer.status !== 422 || bad.status !== 422 || bad.json?.code !== 'invalid_package' || (bad.json?.errors ?? []).length !== 2) {
      fail(`uploading ${UPLOAD_BAD}: want 422 invalid_package with two errors, got ${JSON.stringify(badAnswer)} (replayed: ${JSON.stringify(bad)})`);
    }
    await page.locator('#upload-error').waitFor({ state: 'visible' });
    const want = (bad.json?.errors ?? []).map((e) => `${e.file}: ${e.field}: ${e.message}`);
    const shown = await texts(page.locator('#upload-error-list > li'));
    if (shown.length !== 2 || JSON.stringify(shown) !== JSON.stringify(want)) fail(`the refused upload lists ${JSON.stringify(shown)}, want ${JSON.stringify(want)}`);
    const headline = await page.locator('#upload-error-text').innerText();
    if (!says(headline, bad.json?.message)) fail(`the refused upload says ${JSON.stringify(headline)}, not the problem's message`);
    if (await page.locator('#upload-error img, #upload-error b, #app img').count() !== 0 || await page.evaluate(() => window.__pwned) !== undefined) {
      fail('markup from the refused package became elements on the page');
    }
    if (await page.locator(`#widget-rows tr[data-widget="${UPLOAD_BAD}"]`).count() !== 0) fail(`the refused ${UPLOAD_BAD} appears among the widgets`);
    const after = await adminAPI('GET', 'widgets');
    if ((after.json?.widgets ?? []).some((w) => w.id === UPLOAD_BAD) || (after.json?.problems ?? []).some((p) => p.widget === UPLOAD_BAD)) {
      fail(`api/widgets lists ${UPLOAD_BAD} after its upload was refused`);
    }
    log(`ok: ${UPLOAD_BAD} refused, both problems listed: ${JSON.stringify(shown)}`);
    await page.locator('#upload-widget').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(OUT_DIR, 'admin-upload-refused.png'), fullPage: true });

    // 11. Under the id of a folder package: 409, said as the API says it.
    if (FOLDER_WIDGET) {
      expectRefusal('widgets/' + FOLDER_WIDGET, 409);
      const before = dialogs.length;
      const a409 = await upload(page, join(UPLOAD_DIR, UPLOAD_GOOD + '.zip'), { id: FOLDER_WIDGET });
      const r409 = await replay(FOLDER_WIDGET, join(UPLOAD_DIR, UPLOAD_GOOD + '.zip'));
      if (a409.status !== 409 || r409.json?.code !== 'widget_is_folder') fail(`uploading as ${FOLDER_WIDGET}: want 409 widget_is_folder, got ${JSON.stringify(a409)} (replayed: ${JSON.stringify(r409)})`);
      if (!dialogs.slice(before).some((d) => d.includes(FOLDER_WIDGET))) fail(`uploading over the serving ${FOLDER_WIDGET} asked no confirmation`);
      const msg = await page.locator('#upload-error-text').innerText();
      if (!says(msg, r409.json?.message)) fail(`the 409 says ${JSON.stringify(msg)}`);
      if (await page.locator('#upload-error-list').isVisible()) fail('the 409 shows an error list');
      log(`ok: uploading as ${FOLDER_WIDGET} is refused: ${JSON.stringify(msg)}`);
    }

    // 12. Too large: 413 package_too_large, said as the API says it.
    if (UPLOAD_HUGE) {
      expectRefusal('widgets/' + UPLOAD_HUGE, 413);
      const bigAnswer = await upload(page, join(UPLOAD_DIR, UPLOAD_HUGE + '.zip'), { prefill: UPLOAD_HUGE });
      const big = await replay(UPLOAD_HUGE, join(UPLOAD_DIR, UPLOAD_HUGE + '.zip'));
      if (bigAnswer.status !== 413 || big.json?.code !== 'package_too_large') fail(`uploading ${UPLOAD_HUGE}: want 413 package_too_large, got ${JSON.stringify(bigAnswer)} (replayed: ${JSON.stringify(big)})`);
      const msg = await page.locator('#upload-error-text').innerText();
      if (!says(msg, big.json?.message)) fail(`the 413 says ${JSON.stringify(msg)}`);
      else log(`ok: ${UPLOAD_HUGE} is refused: ${JSON.stringify(msg)}`);
    }

    // 13. Delete: the uploaded package, after a confirmation; then a refused
    // one that serves nothing. The passport stays.
    const before = dialogs.length;
    const row = page.locator(`#widget-rows tr[data-widget="${UPLOAD_GOOD}"]`);
    await row.locator('button[data-action="delete-widget"]').click();
    await row.waitFor({ state: 'detached' }).catch(() => fail(`${UPLOAD_GOOD} is still listed after Delete`));
    if (!dialogs.slice(before).some((d) => d.includes(UPLOAD_GOOD))) fail(`deleting ${UPLOAD_GOOD} asked no confirmation`);
    if (await rowOf(page, pp.id).count() !== 1) fail(`the passport ${pp.id} went with its widget package`);
    if ((await adminAPI('GET', 'widgets')).json?.widgets?.some((w) => w.id === UPLOAD_GOOD)) fail(`api/widgets lists ${UPLOAD_GOOD} after Delete`);
    else log(`ok: ${UPLOAD_GOOD} deleted; its passport stays`);
    for (const gone of REFUSED.filter((x) => !x.serving)) {
      const item = page.locator(`#problem-list > li[data-widget="${gone.id}"]`);
      await item.locator('button[data-action="delete-widget"]').click();
      await item.waitFor({ state: 'detached' }).catch(() => fail(`the refused ${gone.id} is still listed after Delete`));
      if ((await adminAPI('GET', 'widgets')).json?.problems?.some((p) => p.widget === gone.id)) fail(`api/widgets lists the refused ${gone.id} after Delete`);
      else log(`ok: the refused package ${gone.id} deleted`);
    }
  }

  // 14. A passport the provider stopped accepting: the banner names it,
  // and goes once it is reconnected.
  if (RECONNECT_PASSPORT) {
    const banner = page.locator('#reconnect-banner');
    if (await banner.isVisible()) fail('the reconnect banner shows while no passport needs reconnecting');
    console.log('READY reconnect');
    await waitForGo();
    await page.locator('#reload').click();
    await banner.waitFor({ state: 'visible' }).catch(() => { throw new Error('no reconnect banner after Reload'); });
    if (await banner.getAttribute('role') !== 'alert') fail('the reconnect banner is not role="alert"');
    const text = (await page.locator('#reconnect-text').textContent()).trim();
    const wantText = `1 passport needs reconnecting: ${RECONNECT_NAME}`;
    if (text !== wantText) fail(`the banner reads ${JSON.stringify(text)}, want ${JSON.stringify(wantText)}`);
    if (await banner.locator('img').count() !== 0 || await page.locator('#passport-rows img').count() !== 0) fail('the passport name became markup');
    const row = rowOf(page, RECONNECT_PASSPORT);
    if (await row.getAttribute('data-status') !== 'reconnect_required') fail(`${RECONNECT_PASSPORT}'s row is not reconnect_required`);
    const again = row.locator('button[data-action="connect"]');
    if ((await again.innerText()).trim() !== 'Reconnect') fail(`${RECONNECT_PASSPORT}'s button reads ${JSON.stringify(await again.innerText())}`);
    log(`ok: the banner reads ${JSON.stringify(text)}`);
    await page.screenshot({ path: join(OUT_DIR, 'admin-reconnect-banner.png'), fullPage: true });

    const [popup] = await Promise.all([page.waitForEvent('popup'), again.click()]);
    const allowAgain = popup.locator('#allow');
    await allowAgain.waitFor({ state: 'visible' });
    await allowAgain.click().catch((err) => { if (!popup.isClosed()) throw err; });
    await page.locator(`#passport-rows tr[data-passport="${RECONNECT_PASSPORT}"][data-status="active"]`).waitFor({ state: 'visible' })
      .catch(() => { throw new Error(`${RECONNECT_PASSPORT} did not turn Active after reconnecting`); });
    await banner.waitFor({ state: 'hidden' }).catch(() => fail('the reconnect banner stays after the passport was reconnected'));
    if (!popup.isClosed()) await popup.waitForEvent('close', { timeout: 10_000 }).catch(() => fail('the pop-up did not close after reconnecting'));
    log(`ok: ${RECONNECT_PASSPORT} reconnected; the banner is gone`);
    await page.screenshot({ path: join(OUT_DIR, 'admin-reconnected.png'), fullPage: true });
  }

  // 15. The configuration form of a widget declaring fields, on the bound
  // instance: defaults shown; markup in labels, descriptions and options
  // shown as text; a bad number and a too long text refused, each problem
  // next to its field, the input kept and nothing written; the fixed
  // values saved with their JSON types; then back to the defaults. The Go
  // test checks Vault and the widget's view at each "READY config-<stage>".
  if (CONFIG_INSTANCE && CONFIG_WIDGET) {
    const cfgPath = `instances/${encodeURIComponent(CONFIG_INSTANCE)}/config/${encodeURIComponent(CONFIG_WIDGET)}`;
    const pause = async (stage) => { console.log(`READY config-${stage}`); await waitForGo(); };
    const spec = await adminAPI('GET', cfgPath);
    if (spec.status !== 200) throw new Error(`GET ${cfgPath}: ${JSON.stringify(spec)}`);
    const fields = spec.json.fields;
    const fieldOf = (name) => fields.find((f) => f.name === name);
    if (Object.keys(spec.json.values).length !== 0) throw new Error(`${CONFIG_WIDGET} is configured for ${CONFIG_INSTANCE} before the page did anything: ${JSON.stringify(spec.json.values)}`);
    const listed = ((await adminAPI('GET', 'widgets')).json?.widgets ?? []).find((w) => w.id === CONFIG_WIDGET);
    if (listed?.configurable !== true) fail(`api/widgets does not say ${CONFIG_WIDGET} is configurable: ${JSON.stringify(listed)}`);
    if (await page.locator(`#widget-rows tr[data-widget="${CONFIG_WIDGET}"] [data-field="configurable"]`).count() !== 1) fail(`${CONFIG_WIDGET}'s row does not say it is configurable`);
    await pause('start');

    const card = page.locator(`#instances details[data-instance="${CONFIG_INSTANCE}"]`);
    await card.waitFor({ state: 'attached' });
    if (!await card.evaluate((d) => d.open)) await card.locator('summary').click();
    const toggle = card.locator(`button[data-action="toggle-config"][data-widget="${CONFIG_WIDGET}"]`);
    if ((await toggle.innerText()).trim() !== `Configure ${CONFIG_WIDGET}`) fail(`the configuration button reads ${JSON.stringify(await toggle.innerText())}`);
    if (await toggle.getAttribute('aria-expanded') !== 'false') fail('the configuration button is expanded before it is clicked');
    const form = page.locator(`form[data-config-instance="${CONFIG_INSTANCE}"][data-config-widget="${CONFIG_WIDGET}"]`);
    if (await form.count() !== 0) fail('the configuration form is open before it is asked for');
    await toggle.click();
    await form.waitFor({ state: 'visible' });
    const toggled = card.locator(`button[data-action="toggle-config"][data-widget="${CONFIG_WIDGET}"]`);
    if (await toggled.getAttribute('aria-expanded') !== 'true') fail('the configuration button is not aria-expanded once the form is open');
    const control = (name) => form.locator(`[name="${name}"]`);
    const fieldBox = (name) => form.locator(`[data-config-field="${name}"]`);
    const errorOf = (name) => form.locator(`[data-field-error="${name}"]`);

    // Every field, with the control its type asks for, its label as text,
    // its default, and the validation hints.
    const controlFor = {
      text: 'input[type="text"]', textbox: 'textarea', number: 'input[type="number"]', boolean: 'input[type="checkbox"]',
      select: 'select', colorPicker: 'input[type="text"]', url: 'input[type="url"]', date: 'input[type="date"]', time: 'input[type="time"]',
    };
    const describe = (f, v) => f.type === 'boolean' ? (v ? 'on' : 'off') : f.type === 'select' ? (f.options.find((o) => o.value === v)?.label ?? v) : typeof v === 'string' ? v : JSON.stringify(v);
    for (const f of fields) {
      const want = f.known ? controlFor[f.type] : 'textarea';
      const c = form.locator(`${want}[name="${f.name}"]`);
      if (await control(f.name).count() !== 1 || await c.count() !== 1) { fail(`field ${f.name} (${f.type}) has no single ${want} named ${f.name}`); continue; }
      const label = await fieldBox(f.name).locator('[data-field="label"]').textContent();
      if (label !== (f.label || f.name)) fail(`field ${f.name} is labelled ${JSON.stringify(label)}, want ${JSON.stringify(f.label || f.name)}`);
      const labelFor = await fieldBox(f.name).locator('label').getAttribute('for');
      if (!labelFor || labelFor !== await c.getAttribute('id')) fail(`field ${f.name}'s label is not the label of its control`);
      if (f.description && !(await fieldBox(f.name).innerText()).includes(f.description)) fail(`field ${f.name} does not show its description as text`);
      if (f.type === 'boolean') {
        if (await c.isChecked() !== (f.default === true)) fail(`the checkbox ${f.name} does not show its default ${f.default}`);
      } else if (await c.inputValue() !== '') {
        fail(`field ${f.name} holds ${JSON.stringify(await c.inputValue())} while nothing is set`);
      }
      if (f.default !== undefined) {
        const hint = await form.locator(`[data-field-hint="${f.name}"]`).textContent().catch(() => '');
        if (!hint.includes(`Default: ${describe(f, f.default)}`)) fail(`field ${f.name}'s hint reads ${JSON.stringify(hint)}, not its default ${JSON.stringify(f.default)}`);
      }
      const required = await fieldBox(f.name).locator('.req').count() === 1;
      if (required !== !!f.validation.required) fail(`field ${f.name} is ${required ? '' : 'not '}marked required`);
      if (!f.known && await form.locator(`[data-field-unknown="${f.name}"]`).count() !== 1) fail(`the unknown type of ${f.name} is not noted`);
      if (await errorOf(f.name).count() !== 1 || await errorOf(f.name).isVisible()) fail(`field ${f.name} has no hidden error element`);
    }
    const title = fieldOf('title'), rows = fieldOf('rows');
    if (await control('title').getAttribute('placeholder') !== title.default) fail(`the title's placeholder is not its default ${title.default}`);
    if (await control('title').getAttribute('required') === null) fail('the required title has no required attribute');
    if (await control('rows').getAttribute('min') !== String(rows.validation.min) || await control('rows').getAttribute('max') !== String(rows.validation.max)) fail('the number field has no min and max');
    if (await form.getAttribute('novalidate') === null) fail('the form is not novalidate: the browser would judge before widgetgate');
    const firstOption = await control('room').locator('option').first().textContent();
    if (!firstOption.includes('default: North wing')) fail(`the select's empty choice reads ${JSON.stringify(firstOption)}`);
    const optionLabels = await texts(control('room').locator('option'));
    if (!optionLabels.includes('South <b>wing</b>')) fail(`the select's options read ${JSON.stringify(optionLabels)}: markup not kept as text`);
    if (await form.locator('input[type="color"][data-color-for="accent"]').inputValue() !== '#1a73e8') fail('the colour swatch does not show the default colour');
    // Groups: a fieldset each, legend as text, in schema order.
    const legends = await texts(form.locator('fieldset.config-group > legend'));
    if (JSON.stringify(legends) !== JSON.stringify(['Look & feel', 'Schedule'])) fail(`the groups are ${JSON.stringify(legends)}`);
    for (const f of fields) {
      const group = await fieldBox(f.name).evaluate((el) => el.closest('fieldset')?.querySelector('legend')?.textContent ?? '');
      if (group !== (f.group ?? '')) fail(`field ${f.name} is in the group ${JSON.stringify(group)}, want ${JSON.stringify(f.group ?? '')}`);
    }
    // Markup from the package stays text.
    const before = dialogs.length;
    if (await page.locator('#app img, #app script, form.config-form b').count() !== 0 || await page.evaluate(() => window.__pwned) !== undefined) {
      fail('markup from the widget package became elements on the page');
    }
    if (dialogs.length !== before) fail(`a label ran script: ${JSON.stringify(dialogs.slice(before))}`);
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (sideways > 0) fail(`the page scrolls sideways at 1400 px with the configuration form open (${sideways} px)`);
    log(`ok: the configuration form of ${CONFIG_WIDGET} for ${CONFIG_INSTANCE} shows its ${fields.length} fields with their defaults`);
    await card.screenshot({ path: join(OUT_DIR, 'admin-config-defaults.png') });

    // saveConfig clicks Save and returns the JSON the page sent and the
    // status widgetgate answered.
    const saveConfig = async () => {
      const url = apiURL(cfgPath);
      const [res] = await Promise.all([
        page.waitForResponse((r) => r.url() === url && r.request().method() === 'PUT'),
        form.locator('button[data-action="save-config"]').click(),
      ]);
      return { status: res.status(), sent: res.request().postDataJSON(), headers: await res.request().allHeaders() };
    };

    // A too long title and a number above the maximum, with valid values
    // besides: refused whole.
    const tooLong = 'x'.repeat(title.validation.maxLength + 1);
    await control('title').fill(tooLong);
    const count = (await form.locator('[data-field-count="title"]').textContent()).trim();
    if (count !== `${tooLong.length} / ${title.validation.maxLength}` || await form.locator('[data-field-count="title"][data-over]').count() !== 1) fail(`the title's counter reads ${JSON.stringify(count)}`);
    await control('rows').fill(String(rows.validation.max + 87));
    await control('compact').check();
    await control('room').selectOption('south');
    if (!await card.locator(`.config-block[data-config-widget="${CONFIG_WIDGET}"] [data-field="config-dirty"]`).isVisible()) fail('no "unsaved changes" while the form differs from what is saved');
    expectRefusal(cfgPath, 422);
    const refused = await saveConfig();
    if (refused.status !== 422) throw new Error(`saving the bad values: status ${refused.status}, want 422`);
    if (refused.headers['content-type'] !== 'application/json') fail(`the save was sent as ${JSON.stringify(refused.headers['content-type'])}`);
    const wantSent = { title: tooLong, rows: rows.validation.max + 87, compact: true, room: 'south' };
    if (JSON.stringify(refused.sent) !== JSON.stringify({ values: wantSent })) fail(`the page sent ${JSON.stringify(refused.sent)}, want ${JSON.stringify({ values: wantSent })}`);
    // What widgetgate answered, asked again as the test (a refused save
    // writes nothing).
    const problem = await adminAPI('PUT', cfgPath, refused.sent);
    const byField = Object.fromEntries((problem.json?.errors ?? []).map((e) => [e.field, e.message]));
    if (problem.status !== 422 || problem.json?.code !== 'invalid_configuration' || JSON.stringify(Object.keys(byField).sort()) !== '["rows","title"]') {
      throw new Error(`the refused values, sent again: ${JSON.stringify(problem)}`);
    }
    await errorOf('title').waitFor({ state: 'visible' }).catch(() => fail('after the refused save no error shows next to the title'));
    for (const name of ['title', 'rows']) {
      const shown = (await errorOf(name).textContent()).trim();
      if (shown !== byField[name]) fail(`field ${name}'s error reads ${JSON.stringify(shown)}, want ${JSON.stringify(byField[name])}`);
      if (await control(name).getAttribute('aria-invalid') !== 'true') fail(`field ${name} is not aria-invalid`);
      const described = (await control(name).getAttribute('aria-describedby') ?? '').split(' ');
      if (!described.includes(await errorOf(name).getAttribute('id'))) fail(`field ${name}'s error does not describe it`);
    }
    const visibleErrors = await form.locator('[data-field-error]:visible').count();
    if (visibleErrors !== 2) fail(`${visibleErrors} fields show an error, want 2`);
    const summary = form.locator('[data-field="config-summary"]');
    if (!await summary.isVisible() || !says(await summary.innerText(), problem.json.message)) fail(`the summary reads ${JSON.stringify(await summary.innerText())}, not ${JSON.stringify(problem.json.message)}`);
    const lines = await texts(summary.locator('li'));
    const wantLines = [`${title.label}: ${byField.title}`, `${rows.label}: ${byField.rows}`];
    if (JSON.stringify(lines) !== JSON.stringify(wantLines)) fail(`the summary lists ${JSON.stringify(lines)}, want ${JSON.stringify(wantLines)}`);
    const status = (await form.locator('[data-field="config-status"]').innerText()).trim();
    if (status !== 'Not saved' || await form.locator('[data-field="config-status"][data-state="error"]').count() !== 1) fail(`the status after a refusal reads ${JSON.stringify(status)}`);
    // The administrator's input stays, also across closing and opening
    // the form again.
    const kept = async (when) => {
      const got = { title: await control('title').inputValue(), rows: await control('rows').inputValue(), compact: await control('compact').isChecked(), room: await control('room').inputValue() };
      const want = { title: tooLong, rows: String(rows.validation.max + 87), compact: true, room: 'south' };
      if (JSON.stringify(got) !== JSON.stringify(want)) fail(`${when}, the form holds ${JSON.stringify(got)}, want what was typed ${JSON.stringify(want)}`);
    };
    await kept('after the refusal');
    await toggled.click();
    await form.waitFor({ state: 'detached' });
    await card.locator(`button[data-action="toggle-config"][data-widget="${CONFIG_WIDGET}"][aria-expanded="false"]`).click();
    await form.waitFor({ state: 'visible' });
    await kept('closed and opened again');
    if ((await errorOf('rows').textContent()).trim() !== byField.rows) fail('the errors are gone after closing and opening the form');
    if (Object.keys((await adminAPI('GET', cfgPath)).json?.values ?? { x: 1 }).length !== 0) fail('the refused save wrote values');
    log(`ok: the bad values are refused: ${JSON.stringify(byField)}`);
    await card.screenshot({ path: join(OUT_DIR, 'admin-config-refused.png') });
    await pause('refused');

    // Fixed: saved, with numbers as numbers and booleans as booleans; the
    // fields left empty are not sent.
    await control('title').fill('Lobby news');
    await control('rows').fill('6');
    await form.locator('input[type="color"][data-color-for="accent"]').fill('#ff8800');
    if (await control('accent').inputValue() !== '#ff8800') fail(`picking a colour writes ${JSON.stringify(await control('accent').inputValue())} in the text box`);
    await control('footer').fill('Open <b>9–17</b>');
    await control('opens').fill('08:30');
    await control('since').fill('2025-01-31');
    await control('since').fill(''); // emptied: back to its default
    await control('gauge').fill('needle');
    const saved = await saveConfig();
    const wantValues = { title: 'Lobby news', rows: 6, compact: true, room: 'south', accent: '#ff8800', footer: 'Open <b>9–17</b>', opens: '08:30', gauge: 'needle' };
    if (saved.status !== 200) throw new Error(`saving the fixed values: status ${saved.status}`);
    const sortKeys = (o) => JSON.stringify(Object.fromEntries(Object.entries(o ?? {}).sort(([a], [b]) => a.localeCompare(b))));
    if (sortKeys(saved.sent?.values) !== sortKeys(wantValues)) fail(`the page sent ${JSON.stringify(saved.sent)}, want the values ${JSON.stringify(wantValues)}`);
    await form.locator('[data-field="config-status"][data-state="saved"]').waitFor({ state: 'visible' });
    const savedText = (await form.locator('[data-field="config-status"]').innerText()).trim();
    if (savedText !== 'Saved') fail(`the status after saving reads ${JSON.stringify(savedText)}`);
    if (await form.locator('[data-field-error]:visible').count() !== 0 || await form.locator('[data-field="config-summary"]').isVisible()) fail('errors are still shown after a successful save');
    if (await form.locator('[aria-invalid="true"]').count() !== 0) fail('fields are still aria-invalid after a successful save');
    if (await card.locator(`.config-block[data-config-widget="${CONFIG_WIDGET}"] [data-field="config-dirty"]`).isVisible()) fail('"unsaved changes" after saving');
    const stored = (await adminAPI('GET', cfgPath)).json;
    if (sortKeys(stored?.values) !== sortKeys(wantValues)) fail(`GET ${cfgPath} answers the values ${JSON.stringify(stored?.values)}, want ${JSON.stringify(wantValues)}`);
    if (typeof stored?.values?.rows !== 'number' || typeof stored?.values?.compact !== 'boolean') fail(`the stored rows and compact are ${typeof stored?.values?.rows} and ${typeof stored?.values?.compact}`);
    if (stored?.configuration?.since?.value !== null || stored?.configuration?.rows?.value !== 6) fail(`the effective configuration is ${JSON.stringify(stored?.configuration)}`);
    if (await control('title').inputValue() !== 'Lobby news' || await control('since').inputValue() !== '') fail('the form does not show what was saved');
    const setCount = (await card.locator(`.config-block[data-config-widget="${CONFIG_WIDGET}"] [data-field="config-state"]`).innerText()).trim();
    if (setCount !== `${Object.keys(wantValues).length} values set`) fail(`the form's head reads ${JSON.stringify(setCount)}`);
    // Reload: the open form reads the instance again and shows the same.
    const reread = page.waitForResponse((r) => r.url() === apiURL(cfgPath) && r.request().method() === 'GET');
    await page.locator('#reload').click();
    if ((await reread).status() !== 200) fail('after Reload the open form could not read its configuration');
    await page.locator('body[data-state="ready"]').waitFor({ state: 'attached' });
    await page.waitForFunction((sel) => document.querySelector(sel)?.value === 'Lobby news',
      `form[data-config-instance="${CONFIG_INSTANCE}"][data-config-widget="${CONFIG_WIDGET}"] [name="title"]`);
    if (await control('rows').inputValue() !== '6' || !await control('compact').isChecked()) fail('after Reload the form does not show the saved values');
    log(`ok: saved ${JSON.stringify(saved.sent.values)}`);
    await card.screenshot({ path: join(OUT_DIR, 'admin-config-saved.png') });
    await pause('saved');

    // Reset to defaults, after a confirmation.
    const asked = dialogs.length;
    await form.locator('button[data-action="reset-config"]').click();
    await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === 'Reset to defaults',
      `form[data-config-instance="${CONFIG_INSTANCE}"][data-config-widget="${CONFIG_WIDGET}"] [data-field="config-status"]`);
    if (!dialogs.slice(asked).some((d) => d.includes(CONFIG_WIDGET) && d.includes(CONFIG_INSTANCE))) fail('Reset to defaults asked no confirmation');
    const after = (await adminAPI('GET', cfgPath)).json;
    if (Object.keys(after?.values ?? { x: 1 }).length !== 0 || after?.configuration?.rows?.value !== rows.default) fail(`after the reset GET answers ${JSON.stringify(after)}`);
    for (const f of fields) {
      const c = control(f.name);
      if (f.type === 'boolean' ? await c.isChecked() !== (f.default === true) : await c.inputValue() !== '') fail(`after the reset field ${f.name} does not show its default`);
    }
    if (await form.locator('input[type="color"][data-color-for="accent"]').inputValue() !== '#1a73e8') fail('after the reset the swatch does not show the default colour');
    const resetHead = (await card.locator(`.config-block[data-config-widget="${CONFIG_WIDGET}"] [data-field="config-state"]`).innerText()).trim();
    if (resetHead !== 'all defaults') fail(`after the reset the form's head reads ${JSON.stringify(resetHead)}`);
    log(`ok: ${CONFIG_WIDGET} for ${CONFIG_INSTANCE} is back to its defaults`);
    await card.screenshot({ path: join(OUT_DIR, 'admin-config-reset.png') });
    await pause('reset');

    // A configuration alone makes an instance: one added on the page and
    // only configured is listed after Reload (api/bindings lists it).
    const kiosk = CONFIG_INSTANCE + '-kiosk';
    await page.locator('#instance-input').fill(kiosk);
    await page.locator('#add-instance-submit').click();
    const kioskCard = page.locator(`#instances details[data-instance="${kiosk}"]`);
    await kioskCard.locator(`button[data-action="toggle-config"][data-widget="${CONFIG_WIDGET}"]`).click();
    const kioskForm = page.locator(`form[data-config-instance="${kiosk}"][data-config-widget="${CONFIG_WIDGET}"]`);
    await kioskForm.locator('[name="title"]').fill('Kiosk');
    await kioskForm.locator('button[data-action="save-config"]').click();
    await kioskForm.locator('[data-field="config-status"][data-state="saved"]').waitFor({ state: 'visible' })
      .catch(() => fail(`saving the configuration of the new instance ${kiosk} did not finish`));
    if (await kioskCard.locator('button[data-action="discard-instance"]').count() !== 0) fail(`${kiosk} is still "new" (discardable) once its configuration is saved`);
    await page.locator('#reload').click();
    await page.waitForFunction((sel) => document.querySelector(sel)?.value === 'Kiosk',
      `form[data-config-instance="${kiosk}"][data-config-widget="${CONFIG_WIDGET}"] [name="title"]`).catch(() => fail(`${kiosk}, only configured, is not listed with its configuration after Reload`));
    const instances = ((await adminAPI('GET', 'bindings')).json?.instances ?? []).map((i) => i.instance);
    if (!instances.includes(kiosk)) fail(`api/bindings does not list ${kiosk}, which only has a configuration: ${JSON.stringify(instances)}`);
    else log(`ok: ${kiosk}, only configured, stays listed after Reload`);
  }

  await page.waitForTimeout(300); // late console messages
  log(`screenshots in ${OUT_DIR}`);
} catch (err) {
  fail(`unexpected: ${err.stack || err}`);
} finally {
  if (authHint) errors.push(...early401);
  else for (const e of early401) log(`note: expected before the token was given: ${e}`);
  for (const e of errors) fail(`console error: ${e}`);
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

if (failures.length > 0) {
  console.error(`\n${failures.length} check(s) failed; screenshots and console.log in ${OUT_DIR}`);
  process.exit(1);
}
console.log('operator page: all checks passed');
process.exit(0);
