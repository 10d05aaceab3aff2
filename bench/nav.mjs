// Time from navigation to interactive in headless Chromium on loopback:
//   node bench/nav.mjs <base url> <session cookie value> <path> [runs]
// "Interactive" is the moment the WASM has hydrated the page (the app marks <body
// data-hydrated>; a MutationObserver installed before any page script notes the time).
// Cold: a fresh browser context each run (no HTTP cache); warm: the same context again
// (the bundle comes from the cache). Prints a markdown table of medians.
import { startBrowser } from '../end2end/lib/harness.mjs';

const [base, cookie, path, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 15);
const browser = await startBrowser();

const observe = () => {
  new MutationObserver((_, obs) => {
    if (document.body?.dataset.hydrated === 'true') {
      window.__interactiveAt = performance.now();
      obs.disconnect();
    }
  }).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-hydrated'] });
};

async function measure(page) {
  await page.goto(base + path);
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return { ttfb: nav.responseStart, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, interactive: window.__interactiveAt };
  });
}

const host = new URL(base).hostname;
const cold = [];
const warm = [];
for (let i = 0; i < runs; i++) {
  const ctx = await browser.newContext();
  await ctx.addCookies([{ name: 'shipyard_session', value: cookie, domain: host, path: '/' }]);
  await ctx.addInitScript(observe);
  const page = await ctx.newPage();
  cold.push(await measure(page));
  warm.push(await measure(page));
  await ctx.close();
}
await browser.stop();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const row = (label, xs) =>
  `| ${label} | ${['ttfb', 'dcl', 'load', 'interactive'].map((k) => `${median(xs.map((x) => x[k])).toFixed(0)} ms`).join(' | ')} |`;
console.log(`| \`GET ${path}\`, median of ${runs} | first byte | DOMContentLoaded | load | interactive (hydrated) |`);
console.log('| --- | ---: | ---: | ---: | ---: |');
console.log(row('cold (empty cache)', cold));
console.log(row('warm (bundle cached)', warm));
