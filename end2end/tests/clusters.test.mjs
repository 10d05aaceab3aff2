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

  // Scale the node group up, then down, each after reading its plan.
  for (const [count, action] of [['3', 'create'], ['2', 'delete']]) {
    await page.goto(`${clusterUrl}/nodegroups/default-worker`);
    await hydrated(page);
    await page.fill('#node_count', count);
    await page.click('#review-scale');
    await page.waitForSelector('#plan-resources tbody tr');
    const planned = await page.$$eval('#plan-resources tbody tr', (trs) => trs.map((t) => t.textContent));
    assert.equal(planned.length, 1, planned.join('\n'));
    assert.match(planned[0], new RegExp(`${action}.*server.*default-worker`));
    await page.click('#apply-scale-button');
    await page.waitForURL(clusterUrl);
    await page.waitForFunction(
      (n) => document.querySelectorAll('#workers tbody tr').length === n && document.querySelector('#cluster-status')?.textContent === 'ACTIVE',
      Number(count),
      { timeout: 60_000 },
    );
  }

  // Expose a service and create a volume; both become ACTIVE on the page.
  await hydrated(page);
  await page.fill('#service-name', 'frontend');
  await page.fill('#service-port', '80');
  await page.click('#expose-form button[type=submit]');
  await page.waitForSelector('#services tr[data-service=frontend] .badge:text-is("ACTIVE")', { timeout: 60_000 });
  assert.match(await page.textContent('#services tr[data-service=frontend]'), /80→30000/);
  await page.fill('#volume-name', 'data');
  await page.fill('#volume-size', '5');
  await page.click('#volume-form button[type=submit]');
  await page.waitForSelector('#persistent-volumes tr[data-volume=data] .badge:text-is("ACTIVE")', { timeout: 60_000 });

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
  const otherDelete = await other.page.goto(`${clusterUrl}/delete`);
  assert.equal(otherDelete.status(), 404);
  await otherCtx.close();

  // Delete it: the confirmation lists everything, the service's load balancer and the
  // persistent volume included, and wants the name typed.
  await page.goto(clusterUrl);
  await hydrated(page);
  await page.click('#delete-cluster');
  await page.waitForURL(`${clusterUrl}/delete`);
  await hydrated(page);
  const doomed = await page.textContent('#delete-plan');
  assert.match(doomed, /svc-frontend/);
  assert.match(doomed, /pv-data/);
  assert.equal((doomed.match(/master-\d/g) ?? []).length >= 3, true, doomed);
  await page.fill('#confirm', 'not-the-name');
  await page.click('#confirm-delete');
  await page.waitForSelector('[role=alert]');
  assert.match(await page.textContent('[role=alert]'), /Type the cluster's name/);
  await page.fill('#confirm', 'web');
  await page.click('#confirm-delete');
  await page.waitForURL(clusterUrl);
  // Gone: the page answers 404 once the delete has finished, and the list is empty.
  for (let i = 0; i < 120; i++) {
    const r = await page.goto(clusterUrl);
    if (r.status() === 404) break;
    await page.waitForTimeout(500);
  }
  assert.equal((await page.goto(clusterUrl)).status(), 404);
  await page.goto(`${server.url}/clusters`);
  await page.waitForSelector('#clusters-empty');

  // And the cloud, asked with its own client, holds nothing of it.
  const cli = process.env.OPENSTACK_CLI;
  if (cli) {
    const env = { ...process.env, OS_CLIENT_CONFIG_FILE: server.cloudsYaml, OS_CLOUD: 'localcloud' };
    for (const what of [['server', 'list'], ['volume', 'list'], ['loadbalancer', 'list']]) {
      const out = JSON.parse(execFileSync(cli, [...what, '-f', 'json'], { env }).toString());
      assert.deepEqual(out, [], `${what.join(' ')}: ${JSON.stringify(out)}`);
    }
  }
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
