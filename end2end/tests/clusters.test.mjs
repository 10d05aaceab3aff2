// Cluster pages as users work them in Chromium: create a 3-master cluster through the
// form after reading its plan, see it ACTIVE with masters on three hosts, its load
// balancer and volumes, download its kubeconfig and hand it to kubectl; find it in the
// list; another user sees none of it; and the same create without JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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

async function signUp(ctx, prefix) {
  const page = await ctx.newPage();
  const email = uniqueEmail(prefix);
  await page.goto(`${server.url}/signup`);
  await hydrated(page);
  await page.fill('#email', email);
  await page.fill('#password', `${prefix} long password`);
  await page.click('#signup-form button[type=submit]');
  await page.waitForURL(`${server.url}/clusters`);
  return { page, email };
}

function kubectl(args) {
  return execFileSync('kubectl', args, { env: { ...process.env, KUBECONFIG: '/dev/null' } }).toString();
}

test('create a 3-master cluster after its plan, see it ACTIVE, download its kubeconfig', async () => {
  const ctx = await browser.newContext({ acceptDownloads: true });
  const { page } = await signUp(ctx, 'clusters');
  await page.waitForSelector('#clusters-empty');
  await page.click('#clusters-empty a.button');
  await page.waitForURL(`${server.url}/clusters/new`);
  await hydrated(page);

  // A bad name: the plan says why, and nothing is created.
  await page.fill('#name', 'Bad Name');
  await page.click('#review-plan');
  await page.waitForSelector('#plan [role=alert]');
  assert.match(await page.textContent('#plan [role=alert]'), /name/i);

  await page.fill('#name', 'web');
  await page.selectOption('#master_count', '3');
  await page.click('#review-plan');
  await page.waitForSelector('#plan-resources');
  const rows = await page.$$eval('#plan-resources tbody tr', (trs) => trs.map((t) => t.textContent));
  assert.equal(rows.filter((r) => /server.*master-\d/.test(r)).length, 3, rows.join('\n'));
  assert.equal(rows.filter((r) => /volume.*etcd-\d/.test(r)).length, 3, rows.join('\n'));
  assert.equal(rows.filter((r) => /load balancer/.test(r)).length, 1, rows.join('\n'));
  assert.equal(await page.textContent('#plan-fits'), 'the cloud has room');
  assert.equal(await page.textContent('#plan-quota'), 'within quota');
  assert.match(await page.textContent('#plan-quota-left'), /clusters/);

  await page.click('#create-cluster');
  await page.waitForURL(/\/clusters\/[0-9a-f-]{36}$/);
  const clusterUrl = page.url();
  await page.waitForSelector('#cluster-status:text-is("ACTIVE")', { timeout: 60_000 });
  await page.waitForSelector('#operations tr[data-state=succeeded]');

  // Three masters on three different hosts, the API load balancer, three etcd volumes.
  const hosts = await page.$$eval('#masters td.host', (tds) => tds.map((t) => t.textContent));
  assert.equal(hosts.length, 3);
  assert.equal(new Set(hosts).size, 3, `masters on distinct hosts: ${hosts}`);
  assert.match(await page.textContent('#load-balancers'), /api/);
  const etcd = await page.$$eval('#volumes tbody tr', (trs) => trs.filter((t) => t.textContent.includes('etcd')).length);
  assert.equal(etcd, 3);
  const endpoint = await page.textContent('#api-endpoint');
  assert.match(endpoint, /https:\/\/127\.[\d.]+:6443/);

  // The kubeconfig downloads with a fresh certificate, and kubectl accepts it.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-kubeconfig')]);
  assert.equal(download.suggestedFilename(), 'web.kubeconfig.yaml');
  const file = await download.path();
  const server_ = kubectl(['config', 'view', '--kubeconfig', file, '-o', 'jsonpath={.clusters[0].cluster.server}']);
  assert.equal(`https://${server_.replace('https://', '')}`, endpoint.split(' ')[0]);
  const user = kubectl(['config', 'view', '--kubeconfig', file, '--raw', '-o', 'jsonpath={.users[0].user.client-certificate-data}']);
  assert.ok(user.length > 100, 'a client certificate is embedded');

  // The list finds it by name and status, and not by what it is not.
  await page.goto(`${server.url}/clusters`);
  await page.waitForSelector('#clusters tr[data-cluster=web]');
  assert.match(await page.textContent('#clusters tr[data-cluster=web]'), /ACTIVE/);
  await page.goto(`${server.url}/clusters?q=we&status=ACTIVE`);
  await page.waitForSelector('#clusters tr[data-cluster=web]');
  await page.goto(`${server.url}/clusters?q=nothing-like-it`);
  await page.waitForSelector('#clusters');
  assert.equal(await page.$$eval('#clusters tbody tr', (trs) => trs.length), 0);

  // Another user sees nothing of it: not the page, not the kubeconfig.
  const otherCtx = await browser.newContext();
  const other = await signUp(otherCtx, 'clusters-other');
  const res = await other.page.goto(clusterUrl);
  assert.equal(res.status(), 404);
  const kc = await other.page.request.post(`${clusterUrl.replace('/clusters/', '/api/v1/clusters/')}/kubeconfig`, {
    headers: { origin: server.url },
  });
  assert.equal(kc.status(), 404);
  await other.page.goto(`${server.url}/clusters`);
  await other.page.waitForSelector('#clusters-empty');
  await otherCtx.close();
  await ctx.close();
});

test('without JavaScript: review the plan and create a cluster', async () => {
  const jsCtx = await browser.newContext();
  const { email } = await signUp(jsCtx, 'nojs-clusters');
  await jsCtx.close();
  const ctx = await browser.newContext({ javaScriptEnabled: false });
  const page = await ctx.newPage();
  await page.goto(`${server.url}/signin`);
  await page.fill('#email', email);
  await page.fill('#password', 'nojs-clusters long password');
  await page.click('#signin-form button[type=submit]');
  await page.waitForURL(`${server.url}/clusters`);
  await page.goto(`${server.url}/clusters/new`);
  await page.fill('#name', 'plain');
  await page.selectOption('#master_count', '1');
  await page.fill('#ng_count', '1');
  await page.click('#review-plan');
  await page.waitForSelector('#plan-resources');
  await page.click('#create-cluster');
  await page.waitForURL(/\/clusters\/[0-9a-f-]{36}$/);
  // The page reloads itself while the create runs.
  await page.waitForSelector('#cluster-status:text-is("ACTIVE")', { timeout: 60_000 });
  await ctx.close();
});
