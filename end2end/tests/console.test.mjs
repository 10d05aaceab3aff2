// Every page and form of the console shell, as users do them in Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, startBrowser, hydrated, uniqueEmail, ADMIN_EMAIL, ADMIN_PASSWORD, signUp as signUpAt, refusedByCsp } from '../lib/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
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

function signUp(ctx, prefix) {
  return signUpAt(ctx, server.url, prefix);
}

async function signIn(ctx, email, password) {
  const page = await ctx.newPage();
  await page.goto(`${server.url}/signin`);
  await hydrated(page);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#signin-form button[type=submit]');
  await page.waitForURL(`${server.url}/clusters`);
  return page;
}

test('projects: create, describe, add a viewer who sees it read-only', async () => {
  const ownerCtx = await browser.newContext();
  const viewerCtx = await browser.newContext();
  const owner = await signUp(ownerCtx, 'owner');
  const viewer = await signUp(viewerCtx, 'viewer');
  const name = `Team ${Date.now()}`;

  const page = owner.page;
  await page.click('nav >> text=Project');
  await page.waitForURL(`${server.url}/project`);
  await page.fill('#new-project-name', name);
  await page.click('#project-create-form button[type=submit]');
  await page.waitForSelector(`h1:text-is("${name}")`);
  assert.equal(await page.$eval('#project-switch', (s) => s.selectedOptions[0].textContent), name);

  await page.fill('#description', 'Clusters for the payments team');
  await page.click('#project-update-form button[type=submit]');
  await page.waitForSelector('[role=status]:has-text("Saved (description)")');

  // Adding someone invites their email; they join once they accept.
  await page.fill('#member-email', viewer.email);
  await page.selectOption('#member-role', 'viewer');
  await page.click('#member-form button[type=submit]');
  await page.waitForSelector('[role=status]:has-text("Invitation saved")');
  await page.waitForSelector(`#invitations td:text-is("${viewer.email}")`);
  const invited = page.locator('#invitations tr', { hasText: viewer.email });
  assert.equal(await invited.locator('.badge').textContent(), 'viewer');
  assert.equal(await page.locator(`#members td:text-is("${viewer.email}")`).count(), 0);

  // The viewer accepts on their Project page: the project becomes their current one,
  // and they can read but not edit it.
  const v = viewer.page;
  await v.goto(`${server.url}/project`);
  await hydrated(v);
  await v.click(`#my-invitations tr:has-text("${name}") button:text-is("Accept")`);
  await v.waitForSelector(`h1:text-is("${name}")`);
  await v.waitForSelector('[role=status]:has-text("You joined the project")');
  assert.equal(await v.$eval('#project-switch', (s) => s.selectedOptions[0].textContent), name);
  assert.equal(await v.locator('#my-invitations').count(), 0);
  assert.equal(await v.textContent('[data-testid=description]'), 'Clusters for the payments team');
  assert.equal(await v.locator('#project-update-form').count(), 0);
  assert.equal(await v.locator('#member-form').count(), 0);
  // The owner now sees them as a member.
  await page.reload();
  await page.waitForSelector(`#members td:text-is("${viewer.email}")`);
  assert.equal(await page.locator('#invitations').count(), 0);
  await ownerCtx.close();
  await viewerCtx.close();
});

test('account: change the password, then sign in with the new one', async () => {
  const ctx = await browser.newContext();
  const user = await signUp(ctx, 'pw');
  const page = user.page;
  await page.click('nav >> text=Account');
  await page.waitForURL(`${server.url}/account`);
  await hydrated(page);
  await page.fill('#current', 'not my password');
  await page.fill('#new', 'a completely new password');
  await page.click('#password-form button[type=submit]');
  await page.waitForSelector('[role=alert]:has-text("current password is wrong")');
  await page.fill('#current', user.password);
  await page.fill('#new', 'a completely new password');
  await page.click('#password-form button[type=submit]');
  await page.waitForSelector('[role=status]:has-text("Password changed")');
  await page.click('form.signout button');
  await page.waitForURL(`${server.url}/signin`);
  const again = await signIn(ctx, user.email, 'a completely new password');
  assert.equal(await again.textContent('[data-testid=whoami]'), user.email);
  await ctx.close();
});

test('admin: users, audit log and the sign-up switch; everyone else is refused', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await signIn(ctx, ADMIN_EMAIL, ADMIN_PASSWORD);
  await page.click('nav >> text=Admin');
  await page.waitForURL(`${server.url}/admin`);
  await page.click('nav.tabs >> text=Audit log');
  await page.waitForURL(`${server.url}/admin/audit`);
  await page.waitForSelector('#audit code:text-is("user.sign_in")');
  await page.click('nav.tabs >> text=Users');
  await page.waitForURL(`${server.url}/admin/users`);
  await page.waitForSelector(`#users td:text-is("${ADMIN_EMAIL}")`);

  await page.click('#signup-toggle button');
  await page.waitForSelector('[data-testid=signup-state]:has-text("Closed")');
  const anon = await browser.newContext();
  const signupPage = await anon.newPage();
  await signupPage.goto(`${server.url}/signup`);
  await signupPage.waitForSelector('text=Sign-up is closed');
  await page.click('#signup-toggle button');
  await page.waitForSelector('[data-testid=signup-state]:has-text("Open")');

  const other = await signUp(anon, 'notadmin');
  await other.page.waitForSelector('[data-testid=whoami]');
  assert.equal(await other.page.locator('nav >> text=Admin').count(), 0);
  for (const path of ['/admin', '/admin/users']) {
    await other.page.goto(`${server.url}${path}`);
    await other.page.waitForSelector('[role=alert]:has-text("Only administrators")');
    assert.equal(await other.page.locator('#users').count(), 0);
    assert.equal(await other.page.locator('nav.tabs').count(), 0);
  }

  // The screenshot for the README: the clusters page at desktop width.
  await page.goto(`${server.url}/clusters`);
  await hydrated(page);
  const out = join(here, '..', 'test-results');
  mkdirSync(out, { recursive: true });
  await page.screenshot({ path: join(out, 'clusters.png') });
  if (process.env.UPDATE_SCREENSHOTS) {
    copyFileSync(join(out, 'clusters.png'), join(here, '..', '..', 'docs', 'screenshots', 'clusters.png'));
  }
  await anon.close();
  await ctx.close();
});

test('the layout works on a phone-sized screen', async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 800 } });
  const user = await signUp(ctx, 'phone');
  // The header fills in once the session is loaded; wait for it before measuring.
  await user.page.waitForSelector('form.signout button', { state: 'visible' });
  await user.page.waitForSelector('[data-testid=whoami]', { state: 'visible' });
  const width = await user.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `page scrolls sideways: ${width}px`);
  // Every other page too (wide tables scroll inside their card, not the page).
  const sideways = async (page, what) => {
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(w <= 390, `${what} scrolls sideways: ${w}px`);
  };
  const { page } = user;
  await page.goto(`${server.url}/clusters/new?review=1&name=phone&master_count=1&ng_count=1`);
  await page.waitForSelector('#plan-resources');
  await sideways(page, 'the create form with its plan');
  await hydrated(page);
  await page.click('#create-cluster');
  await page.waitForURL(/\/clusters\/[0-9a-f-]{36}$/);
  await page.waitForSelector('#cluster-status:text-is("ACTIVE")', { timeout: 60_000 });
  await sideways(page, 'the cluster page');
  const clusterUrl = page.url();
  for (const [path, ready] of [
    [`${clusterUrl}/nodegroups/default-worker?node_count=2`, '#plan-resources'],
    [`${clusterUrl}/add-node-group?review=1&name=more`, '#plan-resources'],
    [`${clusterUrl}/delete`, '#delete-plan'],
    [`${clusterUrl}/workloads`, '#expose-form'],
    ['/clusters', '#clusters'],
    ['/account', '#token-form'],
    ['/project', 'h1'],
  ]) {
    await page.goto(path.startsWith('/') ? `${server.url}${path}` : path);
    await page.waitForSelector(ready);
    await sideways(page, path);
  }
  await ctx.close();

  const adminCtx = await browser.newContext({ viewport: { width: 390, height: 800 } });
  const admin = await adminCtx.newPage();
  await admin.goto(`${server.url}/signin`);
  await hydrated(admin);
  await admin.fill('#email', ADMIN_EMAIL);
  await admin.fill('#password', ADMIN_PASSWORD);
  await admin.click('#signin-form button[type=submit]');
  await admin.waitForURL(/\/(clusters|account)/);
  for (const [path, ready] of [
    ['/admin', '#capacity'],
    ['/admin/clusters', '#all-clusters'],
    ['/admin/users', '#users'],
    ['/admin/quotas', '#quota-table'],
    ['/admin/offer', '#flavors'],
    ['/admin/audit', '#audit'],
  ]) {
    await admin.goto(`${server.url}${path}`);
    await admin.waitForSelector(ready);
    await sideways(admin, path);
  }
  await adminCtx.close();
});

test('without JavaScript: create a project, describe it, add a member, switch back', async () => {
  const other = await browser.newContext();
  const member = await signUp(other, 'nojsmember');
  await other.close();

  const ctx = await browser.newContext({ javaScriptEnabled: false });
  const page = await ctx.newPage();
  const email = uniqueEmail('nojsowner');
  await page.goto(`${server.url}/signup`);
  await page.fill('#email', email);
  await page.fill('#password', 'no javascript password');
  await page.click('#signup-form button[type=submit]');
  await page.waitForURL(`${server.url}/clusters`);

  await page.goto(`${server.url}/project`);
  const name = `NoJS ${Date.now()}`;
  await page.fill('#new-project-name', name);
  await page.click('#project-create-form button[type=submit]');
  await page.waitForSelector(`h1:text-is("${name}")`);
  await page.waitForSelector('[role=status]:has-text("Project created")');

  await page.fill('#description', 'Made without a line of JavaScript');
  await page.click('#project-update-form button[type=submit]');
  await page.waitForSelector('[role=status]:has-text("Saved (description)")');
  assert.equal(await page.inputValue('#description'), 'Made without a line of JavaScript');

  // An email with an account and one without get the same answer: an invitation.
  await page.fill('#member-email', 'nobody-at-all@example.com');
  await page.click('#member-form button[type=submit]');
  await page.waitForSelector('#invitations td:text-is("nobody-at-all@example.com")');
  const noAccount = await page.textContent('[role=status]');
  await page.fill('#member-email', member.email);
  await page.click('#member-form button[type=submit]');
  await page.waitForSelector(`#invitations td:text-is("${member.email}")`);
  assert.equal(await page.textContent('[role=status]'), noAccount);
  assert.match(noAccount, /Invitation saved/);

  // The member accepts, without JavaScript either.
  const memberCtx = await browser.newContext({ javaScriptEnabled: false });
  const mp = await memberCtx.newPage();
  await mp.goto(`${server.url}/signin`);
  await mp.fill('#email', member.email);
  await mp.fill('#password', member.password);
  await mp.click('#signin-form button[type=submit]');
  await mp.waitForURL(`${server.url}/clusters`);
  await mp.goto(`${server.url}/project`);
  await mp.click(`#my-invitations tr:has-text("${name}") button:text-is("Accept")`);
  await mp.waitForSelector(`h1:text-is("${name}")`);
  await memberCtx.close();
  await page.reload();
  await page.waitForSelector(`#members td:text-is("${member.email}")`);

  await page.selectOption('#project-switch', { index: 0 });
  await page.click('.switcher button');
  await page.waitForLoadState();
  await page.goto(`${server.url}/project`);
  await page.waitForSelector('h1:has-text("(personal)")');
  await ctx.close();
});

test('a signed-in page comes with preloads for its own WASM chunks', async () => {
  const ctx = await browser.newContext();
  const { page } = await signUp(ctx, 'preload');
  for (const path of ['/clusters', '/account']) {
    // A fresh load: the chunks are fetched by the page's <link rel=preload>s while the
    // main WASM loads, not afterwards by the split loader.
    const fresh = await ctx.newPage();
    await fresh.goto(`${server.url}${path}`);
    await hydrated(fresh);
    const chunks = await fresh.evaluate(() => performance.getEntriesByType('resource')
      .filter((e) => /\/pkg\/(chunk_\d+|split_.*)\.wasm$/.test(e.name))
      .map((e) => ({ name: e.name, by: e.initiatorType })));
    assert.ok(chunks.length > 0, `${path} loaded no chunk`);
    const late = chunks.filter((c) => c.by !== 'link');
    assert.deepEqual(late, [], `${path}: chunks fetched without a preload`);
    await fresh.close();
  }
  await page.close();
  await ctx.close();
});

// Last: the pages above ran under their Content-Security-Policy (scripts only from this
// origin or with the answer's nonce) and the browser refused nothing.
test('every page above worked under its Content-Security-Policy: nothing refused', async () => {
  const res = await fetch(`${server.url}/signin`);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self' 'nonce-[A-Za-z0-9_-]+' 'wasm-unsafe-eval'/);
  assert.deepEqual(refusedByCsp(), []);
});
