// Headless Chromium check of widgetgate's browser kit, run by
// e2e/browser_test.go (TestBrowserKit) against a running stack: Vault, the
// stand-in provider, widgetgate in signed caller-context mode, and the
// example host page (examples/host).
//
//   HOST_URL=http://127.0.0.1:PORT/ OUT_DIR=/some/dir node e2e/browser/kit.test.mjs
//
// It opens the host page and checks what a person would see: each widget
// shows the stand-in's data, fetched through the kit and widgetgate, and
// the hostile widget got nothing it tried for. It saves screenshots to
// OUT_DIR and exits non-zero, saying why, on any failure.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from './launch.mjs';

const HOST_URL = process.env.HOST_URL;
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

const failures = [];
const fail = (msg) => { failures.push(msg); console.error('FAIL: ' + msg); };
const log = (msg) => console.log(msg);

if (!HOST_URL) {
  console.error('kit.test.mjs: set HOST_URL to the host page (e2e/browser_test.go does this)');
  process.exit(2);
}
mkdirSync(OUT_DIR, { recursive: true });

const { context, profile } = await launch('kit.test.mjs');

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
  if (frames.length !== EXPECT.length + 1) fail(`found ${frames.length} widget frames, want ${EXPECT.length + 1}: ${JSON.stringify(frames)}`);

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

  // 4. Screenshots: the page and each card.
  await page.screenshot({ path: join(OUT_DIR, 'host.png'), fullPage: true });
  for (const { widget } of [...EXPECT, { widget: 'hostile' }]) {
    await page.locator(`.card[data-widget="${widget}"]`).screenshot({ path: join(OUT_DIR, `card-${widget}.png`) }).catch((err) => fail(`screenshot of ${widget}: ${err.message}`));
  }
  log(`screenshots in ${OUT_DIR}`);

  // 5. No errors, except what the hostile widget's own attempts caused:
  // the sidecar's 404 for the APIs it does not have, and the browser's
  // CORS refusals of its direct requests.
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

if (failures.length > 0) {
  console.error(`\n${failures.length} check(s) failed; screenshots and console.log in ${OUT_DIR}`);
  process.exit(1);
}
console.log('browser kit: all checks passed');
