// Sign-up, sign-out, sign-in and errors, as a user does them in Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startBrowser, hydrated, uniqueEmail } from '../lib/harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
});

after(async () => {
  await browser?.stop();
  await server?.stop();
});

test('sign up, sign out, sign in (with JavaScript, no full page loads)', async () => {
  const page = await browser.context.newPage();
  const email = uniqueEmail('alice');
  await page.goto(`${server.url}/signup`);
  await hydrated(page);
  // A marker on window survives client-side navigation but not a full page load.
  await page.evaluate(() => { window.__noReload = 'still here'; });
  await page.fill('#email', email);
  await page.fill('#password', 'alice has a long password');
  await page.click('#signup-form button[type=submit]');
  await page.waitForURL(`${server.url}/clusters`);
  await page.waitForSelector('[data-testid=whoami]');
  assert.equal(await page.textContent('[data-testid=whoami]'), email);
  // The clusters page's code is a chunk of its own: the old page stays until it arrives.
  await page.waitForSelector('text=No clusters in this project yet');
  assert.equal(await page.evaluate(() => window.__noReload), 'still here', 'sign-up caused a full page load');

  await page.click('form.signout button');
  await page.waitForURL(`${server.url}/signin`);
  await page.waitForSelector('text=No account yet?');
  assert.equal(await page.locator('[data-testid=whoami]').count(), 0);
  assert.equal(await page.evaluate(() => window.__noReload), 'still here', 'sign-out caused a full page load');

  // Signed out means signed out: the clusters page sends us back.
  await page.goto(`${server.url}/clusters`);
  await page.waitForURL(`${server.url}/signin`);

  await hydrated(page);
  await page.fill('#email', email);
  await page.fill('#password', 'alice has a long password');
  await page.click('#signin-form button[type=submit]');
  await page.waitForURL(`${server.url}/clusters`);
  assert.equal(await page.textContent('[data-testid=whoami]'), email);
  await page.close();
});

test('a wrong password shows an error in the page', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.url}/signin`);
  await hydrated(page);
  await page.fill('#email', 'nobody@example.com');
  await page.fill('#password', 'not the right password');
  await page.click('#signin-form button[type=submit]');
  const alert = page.locator('[role=alert]');
  await alert.waitFor();
  assert.match(await alert.textContent(), /Wrong email or password/);
  assert.equal(new URL(page.url()).pathname, '/signin');
  await page.close();
});

test('without JavaScript: sign up, the error page, sign in', async () => {
  const ctx = await browser.newContext({ javaScriptEnabled: false });
  const page = await ctx.newPage();
  const email = uniqueEmail('nojs');
  await page.goto(`${server.url}/signup`);
  await page.fill('#email', email);
  await page.fill('#password', 'short');
  // minlength would stop the browser; the server must say the same thing.
  await page.evaluate(() => document.querySelector('#password').removeAttribute('minlength'));
  await page.click('#signup-form button[type=submit]');
  await page.waitForSelector('[role=alert]');
  assert.match(await page.textContent('[role=alert]'), /at least 12 characters/);

  await page.fill('#email', email);
  await page.fill('#password', 'a long enough password');
  await page.click('#signup-form button[type=submit]');
  await page.waitForURL(`${server.url}/clusters`);
  assert.equal(await page.textContent('[data-testid=whoami]'), email);

  await page.click('form.signout button');
  await page.waitForURL(`${server.url}/signin`);
  await page.fill('#email', email);
  await page.fill('#password', 'a wrong password!!');
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('[role=alert]');
  assert.match(await page.textContent('[role=alert]'), /Wrong email or password/);
  await page.fill('#email', email);
  await page.fill('#password', 'a long enough password');
  await page.click('#signin-form button[type=submit]');
  await page.waitForURL(`${server.url}/clusters`);
  await ctx.close();
});
