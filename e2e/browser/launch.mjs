// launch.mjs: starts Debian's Chromium for the browser tests, with the
// flags this machine needs (no sandbox as root, no background networking:
// the network is closed) and a fresh profile. Never a downloaded browser.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

// launch returns a persistent context and its profile folder (remove it
// when done); it exits the process with status 2 when Chromium can't start.
// extra adds context options (e.g. httpCredentials).
export async function launch(script, extra = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'widgetgate-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      viewport: { width: 1400, height: 900 },
      timeout: 60_000,
      ...extra,
    });
    return { context, profile };
  } catch (err) {
    console.error(`${script}: cannot start ${CHROMIUM} (install it with \`make browser-deps\`): ${err.message}`);
    rmSync(profile, { recursive: true, force: true });
    process.exit(2);
  }
}
