import * as fs from 'node:fs';
import * as path from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';

/**
 * The dashboard's browser tests' Chromium (Debian's, driven by
 * playwright-core). Not exported from the support index: only the dashboard
 * tests load playwright.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: npm test installs it (apt-get install chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A new tab on the dashboard at `url` (an address such as `/#/runs/3` opens
 * that run), logged in with `token`, once `ready` is on the page; `errors`
 * collects the page's uncaught errors. Confirmations are accepted.
 */
export async function openDashboard(
  browser: Browser,
  url: string,
  token: string,
  ready: string,
): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => void d.accept());
  await page.goto(url);
  await page.fill('#token', token);
  await page.click('#use-token');
  await page.waitForSelector(ready);
  return { page, errors };
}

/**
 * A full-page screenshot into $WFS_SCREENSHOTS (when set), to look at the
 * layout; nothing is written otherwise.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.WFS_SCREENSHOTS;
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  // From the top: a page scrolled down would slide the tables' sticky headers over their rows.
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}
