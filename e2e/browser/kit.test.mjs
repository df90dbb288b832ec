// Headless Chromium check of widgetgate's browser kit, run by
// e2e/browser_test.go (TestBrowserKit) against a running stack: Vault, the
// stand-in provider, widgetgate in signed caller-context mode, and the
// example host page (examples/host).
//
//   HOST_URL=http://127.0.0.1:PORT/ OUT_DIR=/some/dir node e2e/browser/kit.test.mjs
//
// It opens the host page and checks what a person would see: each widget
// shows the stand-in's data, fetched through the kit and widgetgate, and
// the hostile widget got nothing it tried for. The welcome widget, which
// uses only the Widget API (waitForWidgetApi, getConfiguration, setHeight,
// raiseAnalyticsEvent, onReady), shows its default title at the height it
// asked for; once an administrator sets a title on the operator page
// (ADMIN_URL), it shows that title after a reload. With WIDGET_URL (the hostile
// widget's page on the sidecar) and ADMIN_URL, ADMIN_USER, ADMIN_PASSWORD
// (an admin handler on the same site behind basic_auth), it then opens the
// admin page, so the browser holds the operator's credentials, and the
// widget page top-level, as a link would: the page must have an opaque
// origin and get nothing from the admin API (ADMIN_PASSPORT is the
// passport it tries to disconnect; the Go test checks Vault). It saves
// screenshots to OUT_DIR and exits non-zero, saying why, on any failure.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from './launch.mjs';

const HOST_URL = process.env.HOST_URL;
const WIDGET_URL = process.env.WIDGET_URL || '';
const ADMIN_URL = process.env.ADMIN_URL || '';
const ADMIN_USER = process.env.ADMIN_USER || '';
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD || '';
const ADMIN_PASSPORT = process.env.ADMIN_PASSPORT || 'pp-google';
// The title the administrator gives the welcome widget's lobby instance.
const CONFIG_TITLE = process.env.CONFIG_TITLE || 'Main lobby';
const OUT_DIR = process.env.OUT_DIR || join(import.meta.dirname ?? '.', 'out');
const TIMEOUT = 30_000;

// What the page must show, per widget frame.
const EXPECT = [
  { widget: 'calendar', text: 'Team stand-up' },
  { widget: 'my-saas', text: 'alpha' },
  { widget: 'graph-calendar', text: 'Planning' },
];

// The hostile widget's attempts (written by e2e/browser_test.go) and what
// each must end with.
const HOSTILE_CHECKS = {
  'other-widget-api': /unknown_api/, // its call is attributed to its own widget id
  'read-parent-document': /SecurityError/,
  'read-parent-kit': /SecurityError/,
  'forged-widget-claim': /invalid_message/, // a message naming another widget is refused
  'forged-raw-call': /unknown_api/, // a hand-made call is still its own widget's
  'forged-result-to-host': /invalid_message/,
  'forged-results-to-siblings': /sent/, // the siblings' own checks are below
  'method-override': /accepts only params/,
  'direct-sidecar-call': /./, // no token, origin "null": refused or unreadable
  'steal-context-token': /./, // the host's /context refuses other sites
};

// The hostile widget's attempts when its page is opened top-level.
const TOP_LEVEL_CHECKS = {
  'top-level-origin': /^self\.origin = null$/, // CSP sandbox: an opaque origin even top-level
  'top-level-admin-read': /TypeError/, // a cross-origin read the admin API does not allow
  'top-level-admin-disconnect': /./, // unreadable; the Go test checks Vault
  'top-level-storage': /SecurityError/,
};

const failures = [];
const fail = (msg) => { failures.push(msg); console.error('FAIL: ' + msg); };
const log = (msg) => console.log(msg);

if (!HOST_URL) {
  console.error('kit.test.mjs: set HOST_URL to the host page (e2e/browser_test.go does this)');
  process.exit(2);
}
mkdirSync(OUT_DIR, { recursive: true });

// The operator's browser: it answers the admin handler's basic_auth
// challenge, as a browser that cached the credentials does.
const { context, profile } = await launch('kit.test.mjs',
  ADMIN_USER ? { httpCredentials: { username: ADMIN_USER, password: ADMIN_PASSWORD } } : {});

const consoleErrors = [];
const pageErrors = [];
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (msg) => {
    const where = msg.location()?.url ?? '';
    const line = `[${msg.type()}] ${msg.text()} (${where})`;
    writeFileSync(join(OUT_DIR, 'console.log'), line + '\n', { flag: 'a' });
    if (msg.type() === 'error') consoleErrors.push({ text: msg.text(), url: where });
  });
  page.on('pageerror', (err) => {
    pageErrors.push(err);
    writeFileSync(join(OUT_DIR, 'console.log'), `[pageerror] ${err.stack || err}\n`, { flag: 'a' });
  });

  const resp = await page.goto(HOST_URL, { waitUntil: 'load' });
  if (!resp || resp.status() !== 200) throw new Error(`host page answered ${resp && resp.status()}`);

  const frameOf = (widget) => page.frameLocator(`iframe[data-widgetgate-widget="${widget}"]`);

  // 1. Each widget renders the stand-in's data, fetched through widgetgate.
  for (const { widget, text } of EXPECT) {
    try {
      await frameOf(widget).locator('li', { hasText: text }).first().waitFor({ state: 'visible' });
      log(`ok: ${widget} shows "${text}"`);
    } catch (err) {
      const body = await frameOf(widget).locator('body').innerText({ timeout: 2000 }).catch(() => '(unreadable)');
      fail(`${widget} did not show "${text}" within ${TIMEOUT / 1000} s; its frame shows: ${JSON.stringify(body)}`);
    }
  }

  // 2. The frames are sandboxed without allow-same-origin: the host page
  // cannot reach into them and they cannot reach out.
  const frames = await page.evaluate(() => Array.from(document.querySelectorAll('iframe')).map((f) => ({
    widget: f.getAttribute('data-widgetgate-widget'),
    sandbox: f.getAttribute('sandbox'),
    src: f.src,
    opaque: f.contentDocument === null,
  })));
  for (const f of frames) {
    if (f.sandbox !== 'allow-scripts') fail(`${f.widget}: iframe sandbox is ${JSON.stringify(f.sandbox)}, want "allow-scripts"`);
    if (!f.opaque) fail(`${f.widget}: the host page can read the widget's document (not an opaque origin)`);
  }
  // EXPECT's, the hostile, the welcome and the legacy widget.
  if (frames.length !== EXPECT.length + 3) fail(`found ${frames.length} widget frames, want ${EXPECT.length + 3}: ${JSON.stringify(frames)}`);

  // 3. The hostile widget got nothing.
  const hostile = frameOf('hostile');
  try {
    await hostile.locator('#done').waitFor({ state: 'attached' });
  } catch {
    fail('the hostile widget did not finish its attempts');
  }
  const checks = await hostile.locator('[data-check]').evaluateAll((els) => els.map((el) => ({
    name: el.getAttribute('data-check'), verdict: el.getAttribute('data-verdict'), detail: el.getAttribute('data-detail'),
  }))).catch(() => []);
  const seen = new Map(checks.map((c) => [c.name, c]));
  for (const [name, want] of Object.entries(HOSTILE_CHECKS)) {
    const c = seen.get(name);
    if (!c) {
      fail(`hostile: attempt ${name} recorded no outcome`);
    } else if (c.verdict !== 'blocked' || !want.test(c.detail)) {
      fail(`hostile: attempt ${name} was not blocked as expected: verdict ${c.verdict}, ${c.detail} (want ${want})`);
    } else {
      log(`ok: hostile ${name}: ${c.verdict} (${c.detail})`);
    }
  }
  for (const c of checks) {
    if (!(c.name in HOSTILE_CHECKS)) fail(`hostile: unexpected attempt ${c.name}: ${c.verdict} (${c.detail})`);
  }
  // Forged results posted into the other frames changed nothing there.
  await page.waitForTimeout(500);
  for (const { widget } of EXPECT) {
    const text = await frameOf(widget).locator('body').innerText().catch(() => '');
    if (text.includes('PWNED')) fail(`${widget} shows data forged by the hostile widget: ${JSON.stringify(text)}`);
  }
  const hostText = await page.locator('body').innerText();
  if (hostText.includes('PWNED')) fail('the host page shows data forged by the hostile widget');

  // The legacy widget never uses the Widget API, so it sends no
  // lifecycle signal: after the page's readyTimeout the host shows it
  // anyway, in state "timeout".
  const legacyBody = page.locator('.card[data-widget="legacy"] .card-body');
  try {
    await page.locator('.card[data-widget="legacy"] .card-body[data-widgetgate-state="timeout"]').waitFor({ state: 'attached' });
    if (await legacyBody.locator('.widgetgate-skeleton').count() !== 0) fail('the legacy card still shows its skeleton after readyTimeout');
    const badge = (await page.locator('.card[data-widget="legacy"] .card-state').textContent()).trim(); // innerText is the CSS-uppercased text
    if (badge !== 'timeout') fail(`the legacy card's badge reads ${JSON.stringify(badge)} after readyTimeout, want "timeout"`);
    await page.frameLocator('iframe[data-widgetgate-widget="legacy"]').locator('#legacy', { hasText: 'Written before the Widget API' }).waitFor();
    log('ok: legacy, which sends no lifecycle signal, is shown after readyTimeout (state timeout)');
  } catch (err) {
    fail(`the legacy card was not shown after readyTimeout (state ${await legacyBody.getAttribute('data-widgetgate-state').catch(() => '?')}): ${err.message}`);
  }

  // 4. Screenshots: the page and each card.
  await page.screenshot({ path: join(OUT_DIR, 'host.png'), fullPage: true });
  for (const { widget } of [...EXPECT, { widget: 'hostile' }, { widget: 'welcome' }, { widget: 'legacy' }]) {
    await page.locator(`.card[data-widget="${widget}"]`).screenshot({ path: join(OUT_DIR, `card-${widget}.png`) }).catch((err) => fail(`screenshot of ${widget}: ${err.message}`));
  }
  log(`screenshots in ${OUT_DIR}`);

  // 5. No errors, except what the hostile widget's own attempts caused:
  // the sidecar's 404 for the APIs it does not have, and the browser's
  // CORS refusals of its direct requests.
  // 6. The Widget API: the welcome widget's default configuration, its
  // height, its analytics event and its readiness; then the
  // administrator's title, after a reload.
  await welcomeDefault(page);
  if (ADMIN_URL) await configureWelcome(page);

  // 7. The hostile widget's page opened top-level by the operator, whose
  // browser holds the admin credentials.
  if (WIDGET_URL) await topLevel();

  // 8. A page on another origin auto-submits forms to the admin API: the
  // browser attaches the operator's basic_auth credentials by itself.
  if (ADMIN_URL) await crossSiteForms();

  for (const e of pageErrors) fail(`page error: ${e.stack || e}`);
  for (const e of consoleErrors) {
    // Chrome reports the CORS refusal at the hostile frame's page, and the
    // failed request itself at the URL it refused.
    const fromHostile = /\/widgets\/hostile\//.test(e.url) ||
      (/net::ERR_FAILED/.test(e.text) && (e.url.includes('/context?widget=calendar&instance=lobby') || e.url.endsWith('/widgets/calendar/apis/getCalendarEvents')));
    if (!fromHostile) fail(`console error: ${e.text} (${e.url})`);
  }
} catch (err) {
  fail(`unexpected: ${err.stack || err}`);
} finally {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

// welcomeDefault checks the welcome widget as mounted: the schema's
// default title, the iframe at the height the widget asked for (its card
// sized to it), one analytics event counted by the host, and the card out
// of its loading state.
async function welcomeDefault(page) {
  const welcome = page.frameLocator('iframe[data-widgetgate-widget="welcome"]');
  try {
    await welcome.locator('#title', { hasText: /^Welcome$/ }).waitFor();
    await welcome.locator('#state', { hasText: 'height 240 px' }).waitFor();
    log('ok: welcome shows its default title and was given the height it asked for');
  } catch {
    const body = await welcome.locator('body').innerText({ timeout: 2000 }).catch(() => '(unreadable)');
    fail(`welcome did not render its default configuration; its frame shows ${JSON.stringify(body)}`);
    return;
  }
  const box = await page.locator('iframe[data-widgetgate-widget="welcome"]').boundingBox();
  if (!box || Math.round(box.height) !== 240) fail(`the welcome iframe is ${box && box.height} px high, want the 240 it asked for`);
  const body = await page.locator('.card[data-widget="welcome"] .card-body').boundingBox();
  if (!body || Math.round(body.height) !== 240) fail(`the welcome card's body is ${body && body.height} px high, want 240 (sized to the widget)`);
  await page.locator('.card[data-widget="welcome"] .card-body[data-widgetgate-state="ready"]').waitFor({ state: 'attached' })
    .catch(() => fail('the welcome card never left its loading state (onReady)'));
  if (await page.locator('.card[data-widget="welcome"] .widgetgate-skeleton').count() !== 0) fail('the welcome card still shows its skeleton after onReady');
  await page.locator('#analytics-count', { hasText: /^1$/ }).waitFor()
    .catch(async () => fail(`the host counted ${await page.locator('#analytics-count').innerText()} analytics events, want 1 (welcome.rendered)`));
  await page.locator('.card[data-widget="welcome"]').screenshot({ path: join(OUT_DIR, 'welcome-default.png') });
}

// configureWelcome plays the administrator: on the operator page, the
// lobby instance's configuration of the welcome widget gets a new title;
// the host page, reloaded, shows it.
async function configureWelcome(page) {
  const tab = await context.newPage();
  tab.setDefaultTimeout(TIMEOUT);
  try {
    const resp = await tab.goto(ADMIN_URL, { waitUntil: 'load' });
    if (!resp || resp.status() !== 200) throw new Error(`the operator page answered ${resp && resp.status()}`);
    const instance = tab.locator('details[data-instance="lobby"]');
    await instance.waitFor();
    await instance.evaluate((d) => { d.open = true; });
    const block = instance.locator('div.config-block[data-config-instance="lobby"][data-config-widget="welcome"]');
    await block.locator('button.config-toggle').click();
    const form = block.locator('form.config-form');
    const title = form.locator('[name="title"]');
    await title.fill(CONFIG_TITLE);
    const [put] = await Promise.all([
      tab.waitForResponse((r) => r.url().endsWith('/api/instances/lobby/config/welcome') && r.request().method() === 'PUT'),
      form.locator('button[data-action="save-config"]').click(),
    ]);
    if (put.status() !== 200) throw new Error(`saving the configuration answered ${put.status()}: ${await put.text()}`);
    // The page draws the block again once it has the answer: wait for
    // that, so the screenshot is of the block the page shows.
    await block.locator('[data-field="config-status"][data-state="saved"]').waitFor();
    log(`ok: the administrator set the title to ${JSON.stringify(CONFIG_TITLE)} on the operator page`);
    await block.screenshot({ path: join(OUT_DIR, 'admin-welcome-config.png') });
  } catch (err) {
    fail(`configuring the welcome widget on the operator page: ${err.stack || err}`);
    return;
  } finally {
    await tab.close().catch(() => {});
  }
  await page.reload({ waitUntil: 'load' });
  const welcome = page.frameLocator('iframe[data-widgetgate-widget="welcome"]');
  try {
    await welcome.locator('#title', { hasText: CONFIG_TITLE }).waitFor();
    log('ok: after a reload, welcome shows the title the administrator set');
  } catch {
    fail(`after a reload, welcome shows ${JSON.stringify(await welcome.locator('#title').innerText().catch(() => '?'))}, want ${JSON.stringify(CONFIG_TITLE)}`);
  }
  // The other widgets still run after the reload.
  for (const { widget, text } of EXPECT) {
    await page.frameLocator(`iframe[data-widgetgate-widget="${widget}"]`).locator('li', { hasText: text }).first().waitFor()
      .catch(() => fail(`after the reload, ${widget} did not show "${text}"`));
  }
  await page.screenshot({ path: join(OUT_DIR, 'host-configured.png'), fullPage: true });
  await page.locator('.card[data-widget="welcome"]').screenshot({ path: join(OUT_DIR, 'welcome-configured.png') });
}

async function topLevel() {
  const tab = await context.newPage();
  tab.setDefaultTimeout(TIMEOUT);
  // Its console is the hostile page's: logged, never a failure (its
  // refused requests are reported there).
  tab.on('console', (msg) => writeFileSync(join(OUT_DIR, 'console.log'), `[top-level] [${msg.type()}] ${msg.text()} (${msg.location()?.url ?? ''})\n`, { flag: 'a' }));
  tab.on('pageerror', (err) => fail(`top-level widget page error: ${err.stack || err}`));
  try {
    if (ADMIN_URL) {
      const adm = await tab.goto(ADMIN_URL, { waitUntil: 'load' });
      if (!adm || adm.status() !== 200) fail(`the admin page answered ${adm && adm.status()} with the operator's credentials`);
      else log('ok: the operator is signed in to the admin page (basic_auth)');
    }
    const resp = await tab.goto(WIDGET_URL + '?passport=' + encodeURIComponent(ADMIN_PASSPORT), { waitUntil: 'load' });
    if (!resp || resp.status() !== 200) throw new Error(`the widget page answered ${resp && resp.status()}`);
    const csp = resp.headers()['content-security-policy'] || '';
    if (!/(^|;)\s*sandbox allow-scripts\s*(;|$)/.test(csp)) fail(`the widget page's CSP is ${JSON.stringify(csp)}, want "sandbox allow-scripts"`);
    if (!/frame-ancestors /.test(csp)) fail(`the widget page's CSP lost frame-ancestors: ${JSON.stringify(csp)}`);
    const origin = await tab.evaluate(() => self.origin);
    if (origin !== 'null') fail(`the widget page opened top-level runs with origin ${origin}, want "null" (opaque)`);
    else log('ok: the widget page opened top-level has an opaque origin');
    await tab.locator('#done').waitFor({ state: 'attached' }).catch(() => fail('the top-level hostile page did not finish its attempts'));
    const checks = await tab.locator('[data-check]').evaluateAll((els) => els.map((el) => ({
      name: el.getAttribute('data-check'), verdict: el.getAttribute('data-verdict'), detail: el.getAttribute('data-detail'),
    })));
    const seen = new Map(checks.map((c) => [c.name, c]));
    for (const [name, want] of Object.entries(TOP_LEVEL_CHECKS)) {
      const c = seen.get(name);
      if (!c) fail(`top-level: attempt ${name} recorded no outcome`);
      else if (c.verdict !== 'blocked' || !want.test(c.detail)) fail(`top-level: attempt ${name} was not blocked as expected: verdict ${c.verdict}, ${c.detail} (want ${want})`);
      else log(`ok: top-level ${name}: ${c.verdict} (${c.detail})`);
    }
    for (const c of checks) {
      if (!(c.name in TOP_LEVEL_CHECKS)) fail(`top-level: unexpected attempt ${c.name}: ${c.verdict} (${c.detail})`);
    }
    await tab.screenshot({ path: join(OUT_DIR, 'widget-top-level.png'), fullPage: true });
  } catch (err) {
    fail(`top-level widget page: ${err.stack || err}`);
  } finally {
    await tab.close().catch(() => {});
  }
}

// crossSiteForms opens pages of a made-up origin (served by the browser
// itself, through playwright's routing) that post forms to the admin API,
// as a hostile site the operator visits would. Each must be refused with
// 403 cross_origin_request; the Go test checks Vault.
async function crossSiteForms() {
  const evil = 'http://evil.example';
  const api = new URL('api/', ADMIN_URL).href;
  const forms = [
    { name: 'disconnect (urlencoded, empty)', path: `passports/${ADMIN_PASSPORT}/disconnect`, enctype: 'application/x-www-form-urlencoded', fields: '' },
    { name: 'create (text/plain JSON)', path: 'passports', enctype: 'text/plain',
      fields: '<input type="hidden" name=\'{"provider":"google","displayName":"evil","x":"\' value=\'"}\'>' },
  ];
  const tab = await context.newPage();
  tab.setDefaultTimeout(TIMEOUT);
  await context.route(`${evil}/**`, (route) => {
    const f = forms[Number(new URL(route.request().url()).searchParams.get('form'))];
    route.fulfill({
      status: 200, contentType: 'text/html; charset=utf-8',
      body: `<!doctype html><title>evil</title><form id="f" method="POST" action="${api}${f.path}" enctype="${f.enctype}">${f.fields}</form><script>document.getElementById('f').submit();</script>`,
    });
  });
  try {
    for (const [i, f] of forms.entries()) {
      const [resp] = await Promise.all([
        tab.waitForResponse((r) => r.url() === api + f.path && r.request().method() === 'POST'),
        tab.goto(`${evil}/?form=${i}`),
      ]);
      const body = await resp.text().catch(() => '');
      const sent = await resp.request().allHeaders();
      if (resp.status() !== 403 || !body.includes('"cross_origin_request"')) {
        fail(`cross-site form ${f.name}: ${resp.status()} ${body.slice(0, 200)} (Origin ${sent.origin}), want 403 cross_origin_request`);
      } else {
        // The handler sits behind basic_auth: its 403 means the browser
        // attached the operator's credentials, and the origin check held.
        log(`ok: cross-site form ${f.name}: refused past basic_auth (403 cross_origin_request, Origin ${sent.origin})`);
      }
      if (i === 0) await tab.screenshot({ path: join(OUT_DIR, 'cross-site-form.png'), fullPage: true });
    }
  } catch (err) {
    fail(`cross-site forms: ${err.stack || err}`);
  } finally {
    await context.unroute(`${evil}/**`).catch(() => {});
    await tab.close().catch(() => {});
  }
}

if (failures.length > 0) {
  console.error(`\n${failures.length} check(s) failed; screenshots and console.log in ${OUT_DIR}`);
  process.exit(1);
}
console.log('browser kit: all checks passed');
