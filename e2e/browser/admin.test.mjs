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
// see it Inactive. Screenshots of both states go to OUT_DIR. It exits
// non-zero, saying why, on any failure, including any error in the page's
// console.
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
//   OUT_DIR        screenshots and console.log (default e2e/browser/out/admin)
//   CHROMIUM_BIN   default /usr/bin/chromium
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
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
    errors.push(`${label}: ${msg.text()} (${where || pageURL})`);
  });
  page.on('pageerror', (err) => {
    writeFileSync(consoleLog, `[${label}] [pageerror] ${err.stack || err}\n`, { flag: 'a' });
    errors.push(`${label}: page error: ${err.stack || err}`);
  });
  page.on('dialog', async (d) => {
    writeFileSync(consoleLog, `[${label}] [dialog ${d.type()}] ${d.message()}\n`, { flag: 'a' });
    await d.accept().catch(() => {});
  });
}

async function waitForGo() {
  const rl = createInterface({ input: process.stdin });
  try {
    for await (const line of rl) {
      if (line.trim() === 'continue') return;
    }
  } finally {
    rl.close();
  }
  throw new Error('stdin closed before "continue"');
}

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
