// Cluster pages as users work them in Chromium: create a 3-master cluster through the
// form after reading its plan, see it ACTIVE with masters on three hosts, its load
// balancer and volumes, download its kubeconfig and hand it to kubectl; find it in the
// list; another user sees none of it; and the same create without JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, startBrowser, hydrated, uniqueEmail, setCloudBehaviour, ADMIN_EMAIL, ADMIN_PASSWORD, signUp as signUpAt, refusedByCsp } from '../lib/harness.mjs';

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

/** Waits for the cluster page to say ACTIVE; on a timeout, says what the server knew. */
async function waitActive(page) {
  try {
    await page.waitForSelector('#cluster-status:text-is("ACTIVE")', { timeout: 60_000 });
  } catch (e) {
    const id = page.url().split('/clusters/')[1];
    const api = await page.request.get(`${server.url}/api/v1/clusters/${id}`, { headers: { accept: 'application/json' } });
    const shown = await page.evaluate(() => document.querySelector('#cluster-status')?.textContent);
    throw new Error(`page shows ${shown}; the server says ${api.status()} ${(await api.text()).slice(0, 600)}: ${e.message}`);
  }
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
  await waitActive(page);
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

  // The create operation's own page: every step succeeded, one attempt or more each.
  await page.click('#operations tr[data-state=succeeded] a');
  await page.waitForURL(/\/operations\/[0-9a-f-]{36}$/);
  assert.equal(await page.textContent('#operation-state'), 'succeeded');
  const steps = await page.$$eval('#steps tbody tr', (trs) => trs.map((t) => [t.dataset.step, t.dataset.state]));
  assert.ok(steps.length >= 9, JSON.stringify(steps));
  assert.ok(steps.every(([, state]) => state === 'succeeded'), JSON.stringify(steps));
  assert.ok(steps.some(([step]) => /master/.test(step)), JSON.stringify(steps));
  assert.equal(await page.$('#operation-action'), null, 'nothing to retry or abort');
  await page.goto(clusterUrl);
  await waitActive(page);

  // The README's picture of a cluster page.
  const out = join(here, '..', 'test-results');
  mkdirSync(out, { recursive: true });
  await page.setViewportSize({ width: 1280, height: 1400 });
  await page.screenshot({ path: join(out, 'cluster.png'), fullPage: false });
  if (process.env.UPDATE_SCREENSHOTS) {
    copyFileSync(join(out, 'cluster.png'), join(here, '..', '..', 'docs', 'screenshots', 'cluster.png'));
  }

  // The kubeconfig downloads with a fresh certificate, and kubectl accepts it.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-kubeconfig')]);
  assert.equal(download.suggestedFilename(), 'web.kubeconfig.yaml');
  const file = await download.path();
  const server_ = kubectl(['config', 'view', '--kubeconfig', file, '-o', 'jsonpath={.clusters[0].cluster.server}']);
  assert.equal(`https://${server_.replace('https://', '')}`, endpoint.split(' ')[0]);
  const user = kubectl(['config', 'view', '--kubeconfig', file, '--raw', '-o', 'jsonpath={.users[0].user.client-certificate-data}']);
  assert.ok(user.length > 100, 'a client certificate is embedded');
  // kubectl reaches the cluster's API through its VIP with that file: both workers
  // registered and Ready.
  let nodes = '';
  for (let i = 0; i < 60 && (nodes.match(/ Ready /g) || []).length < 2; i++) {
    try {
      nodes = kubectl(['--kubeconfig', file, '--request-timeout=5s', 'get', 'nodes']);
    } catch (e) {
      nodes = String(e.stderr || e);
    }
    if ((nodes.match(/ Ready /g) || []).length < 2) await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal((nodes.match(/ Ready /g) || []).length, 2, nodes);
  // The page shows what the cluster itself says: its API answering, each node Ready.
  await page.reload();
  await page.waitForSelector('#kubernetes');
  assert.match(await page.textContent('#api-health'), /answering/);
  assert.doesNotMatch(await page.textContent('#api-health'), /not answering/);
  const kubeNodes = await page.$$eval('#kube-nodes tbody tr', (trs) => trs.map((t) => t.textContent));
  assert.equal(kubeNodes.length, 2, kubeNodes.join('\n'));
  assert.ok(kubeNodes.every((t) => /True/.test(t)), kubeNodes.join('\n'));

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
    const settled = (n) => document.querySelectorAll('#workers tbody tr').length === n && document.querySelector('#cluster-status')?.textContent === 'ACTIVE';
    try {
      await page.waitForFunction(settled, Number(count), { timeout: 60_000 });
    } catch (e) {
      const seen = await page.evaluate(() => ({
        url: location.href,
        workers: document.querySelectorAll('#workers tbody tr').length,
        status: document.querySelector('#cluster-status')?.textContent,
        ops: [...document.querySelectorAll('#operations tr[data-state]')].map((t) => t.dataset.state),
      }));
      throw new Error(`scaling to ${count}: ${JSON.stringify(seen)}: ${e.message}`);
    }
  }

  // Autoscaling on (between 2 and 2: nothing to change), then off again: while it is on,
  // the page says so instead of offering a resize by hand.
  await page.goto(`${clusterUrl}/nodegroups/default-worker`);
  await hydrated(page);
  await page.selectOption('#enabled', 'on');
  await page.fill('#autoscale_min', '2');
  await page.fill('#autoscale_max', '2');
  await page.click('#apply-autoscaling');
  await page.waitForURL(clusterUrl);
  await page.goto(`${clusterUrl}/nodegroups/default-worker`);
  await hydrated(page);
  await page.waitForSelector('#autoscaled', { timeout: 30_000 });
  assert.match(await page.textContent('#autoscaled'), /between 2 and 2 nodes/);
  assert.equal(await page.locator('#node_count').count(), 0);
  await page.selectOption('#enabled', 'off');
  await page.click('#apply-autoscaling');
  await page.waitForURL(clusterUrl);
  await page.goto(`${clusterUrl}/nodegroups/default-worker`);
  await hydrated(page);
  await page.waitForSelector('#node_count', { timeout: 30_000 });
  assert.equal(await page.locator('#autoscaled').count(), 0);
  await page.goto(clusterUrl);
  await hydrated(page);

  // Expose a service and create a volume on the cluster's "Services and volumes" tab
  // (a LoadBalancer Service and a PersistentVolumeClaim in the cluster); both become
  // ACTIVE there once the controllers have made their cloud side, followed live.
  await page.click('nav.tabs >> text=Services and volumes');
  await page.waitForURL(`${clusterUrl}/workloads`);
  await page.waitForSelector('#expose-form');
  await hydrated(page);
  await page.fill('#service-name', 'frontend');
  await page.fill('#service-port', '80');
  await page.click('#expose-form button[type=submit]');
  await page.waitForSelector('#services tr[data-service=frontend] .badge:text-is("ACTIVE")', { timeout: 60_000 });
  assert.match(await page.textContent('#services tr[data-service=frontend]'), /80→3\d{4}/);
  await page.fill('#volume-name', 'data');
  await page.fill('#volume-size', '5');
  await page.click('#volume-form button[type=submit]');
  await page.waitForSelector('#persistent-volumes tr[data-volume=data] .badge:text-is("ACTIVE")', { timeout: 60_000 });
  // The overview shows what the cloud made of them: the service's load balancer and the
  // volume.
  await page.click('nav.tabs >> text=Overview');
  await page.waitForURL(clusterUrl);
  await page.waitForSelector('#load-balancers');
  assert.match(await page.textContent('#load-balancers'), /kube_service_[0-9a-f-]+_default_frontend/);
  assert.match(await page.textContent('#volumes'), /pvc-[0-9a-f-]+/);

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
  for (const sub of ['/nodegroups/default-worker', '/add-node-group', '/workloads']) {
    const r = await other.page.goto(`${clusterUrl}${sub}`);
    assert.equal(r.status(), 404, sub);
    assert.equal(await other.page.locator('[data-status="404"]').count(), 1, sub);
  }
  await otherCtx.close();

  // Delete it: the confirmation lists everything, the service's load balancer and the
  // persistent volume included, and wants the name typed.
  await page.goto(clusterUrl);
  await hydrated(page);
  await page.click('#delete-cluster');
  await page.waitForURL(`${clusterUrl}/delete`);
  await hydrated(page);
  const doomed = await page.textContent('#delete-plan');
  assert.match(doomed, /kube_service_[0-9a-f-]+_default_frontend/);
  assert.match(doomed, /pvc-[0-9a-f-]+/);
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
  const clusterUrl = page.url();

  // Add a node group: the form, its plan (the new workers), then the group.
  await page.click('#add-node-group');
  await page.waitForURL(`${clusterUrl}/add-node-group`);
  await page.fill('#name', 'batch');
  await page.fill('#node_count', '2');
  await page.click('#review-node-group');
  await page.waitForSelector('#plan-resources');
  const planned = await page.$$eval('#plan-resources tbody tr', (trs) => trs.map((t) => t.textContent));
  assert.equal(planned.filter((r) => /create.*server.*batch-\d/.test(r)).length, 2, planned.join('\n'));
  await page.click('#create-node-group');
  await page.waitForURL(clusterUrl);
  await page.waitForSelector('#node-groups tr[data-node-group=batch]');
  await page.waitForSelector('#cluster-status:text-is("ACTIVE")', { timeout: 60_000 });
  assert.equal(await page.$$eval('#workers tbody tr', (trs) => trs.length), 3);

  // Delete it: the wrong name is refused with a message; the right one deletes.
  await page.goto(`${clusterUrl}/delete`);
  assert.match(await page.textContent('#delete-plan'), /batch-1/);
  await page.fill('#confirm', 'plane');
  await page.click('#confirm-delete');
  await page.waitForSelector('[role=alert]');
  assert.match(await page.textContent('[role=alert]'), /Type the cluster's name/);
  await page.goto(`${clusterUrl}/delete`);
  await page.fill('#confirm', 'plain');
  await page.click('#confirm-delete');
  await page.waitForURL(clusterUrl);
  let status = 0;
  for (let i = 0; i < 120 && status !== 404; i++) {
    status = (await page.goto(clusterUrl)).status();
    if (status !== 404) await page.waitForTimeout(500);
  }
  assert.equal(status, 404, 'the deleted cluster is gone');
  await page.goto(`${server.url}/clusters`);
  await page.waitForSelector('#clusters-empty');
  await ctx.close();
});

/** Starts a one-master, one-worker cluster from its plan's page; lands on its page. */
async function startThroughForm(page, name) {
  await page.goto(`${server.url}/clusters/new?review=1&name=${name}&master_count=1&ng_count=1&ng_flavor=m1.small&master_flavor=m1.small`);
  await hydrated(page);
  await page.waitForSelector('#plan-resources');
  await page.click('#create-cluster');
  await page.waitForURL(/\/clusters\/[0-9a-f-]{36}$/);
}

async function createThroughForm(page, name) {
  await startThroughForm(page, name);
  await waitActive(page);
  return page.url();
}

test("an admin sees every project's clusters, the cloud's capacity, operations and the audit log", async () => {
  const aCtx = await browser.newContext();
  const bCtx = await browser.newContext();
  const a = await signUp(aCtx, 'admin-view-a');
  const b = await signUp(bCtx, 'admin-view-b');
  const aUrl = await createThroughForm(a.page, 'alpha');
  await createThroughForm(b.page, 'beta');
  // Not for users.
  const denied = await a.page.goto(`${server.url}/admin`);
  assert.ok([403, 404].includes(denied.status()), `a user got ${denied.status()}`);

  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${server.url}/signin`);
  await hydrated(page);
  await page.fill('#email', ADMIN_EMAIL);
  await page.fill('#password', ADMIN_PASSWORD);
  await page.click('#signin-form button[type=submit]');
  await page.waitForURL(/\/(clusters|account)/);
  // The overview: charts and the cloud's capacity.
  await page.goto(`${server.url}/admin`);
  await page.waitForSelector('#chart-clusters');
  const active = await page.getAttribute('#chart-clusters g[data-label=ACTIVE]', 'data-value');
  assert.ok(Number(active) >= 2, `ACTIVE bar: ${active}`);
  const used = await page.$$eval('#capacity tbody tr', (trs) => trs.map((t) => t.textContent));
  assert.ok(used.length >= 3, used.join('\n'));
  assert.ok(used.some((t) => !/ 0 \/ /.test(t)), 'some host carries the clusters');
  assert.match(await page.textContent('#cloud-usage'), /[1-9]\d* load balancers/);
  // Every project's clusters, through the tabs.
  await hydrated(page);
  await page.click('nav.tabs >> text=Clusters');
  await page.waitForURL(`${server.url}/admin/clusters`);
  for (const name of ['alpha', 'beta']) {
    await page.waitForSelector(`#all-clusters tr[data-cluster=${name}]`);
  }
  assert.equal(await page.getAttribute('nav.tabs a[aria-current=page]', 'href'), '/admin/clusters');
  await page.click('nav.tabs >> text=Audit log');
  await page.waitForURL(`${server.url}/admin/audit`);
  await page.waitForSelector('#audit tbody tr');
  const audit = await page.textContent('#audit');
  assert.match(audit, /cluster\.create/);
  assert.match(audit, new RegExp(a.email.replace(/[.+]/g, '\\$&')));
  assert.match(audit, new RegExp(b.email.replace(/[.+]/g, '\\$&')));
  // The audit log, filtered by actor and action (a GET form: the filter is in the address).
  await page.fill('#actor', b.email);
  await page.selectOption('#action', 'cluster.create');
  await page.click('#audit-filter-apply');
  await page.waitForURL(/actor=/);
  await page.waitForFunction(() => document.querySelectorAll('#audit tbody tr').length === 1);
  assert.match(await page.textContent('#audit tbody'), new RegExp(b.email.replace(/[.+]/g, '\\$&')));
  await page.goto(`${server.url}/admin/audit?since=yesterday`);
  await page.waitForSelector('#audit-error');
  assert.match(await page.textContent('#audit-error'), /not a time/);

  // Flavors on offer: one stopped is gone from a tenant's form; offered again, back.
  await page.goto(`${server.url}/admin/offer`);
  await hydrated(page);
  await page.click('#flavors tr[data-flavor="m1.large"] button');
  await page.waitForSelector('#flavors tr[data-flavor="m1.large"][data-enabled=false]');
  await a.page.goto(`${server.url}/clusters/new`);
  const offered = await a.page.$$eval('#ng_flavor option', (os) => os.map((o) => o.value));
  assert.ok(offered.length > 0 && !offered.includes('m1.large'), offered.join(','));
  await page.click('#flavors tr[data-flavor="m1.large"] button');
  await page.waitForSelector('#flavors tr[data-flavor="m1.large"][data-enabled=true]');

  // Quotas: a's project at 1 cluster is full; its plan says so and the button is off.
  await page.goto(`${server.url}/admin/quotas`);
  const project = await page.$eval(`#quota-table tr:has-text("${a.email}")`, (tr) => tr.dataset.project);
  await page.click(`#quota-table tr:has-text("${a.email}") a`);
  await page.waitForSelector('#quota-form');
  await hydrated(page);
  assert.equal(await page.inputValue('#quota-clusters'), '10');
  await page.fill('#quota-clusters', 'many');
  await page.click('#quota-save');
  await page.waitForSelector('#quotas [role=alert]');
  assert.match(await page.textContent('#quotas [role=alert]'), /whole number/);
  await page.fill('#quota-clusters', '1');
  await page.click('#quota-save');
  await page.waitForURL(/saved=quota/);
  await page.waitForSelector(`#quota-table tr[data-project="${project}"] td:text-is("1 / 1")`);
  await a.page.goto(`${server.url}/clusters/new?review=1&name=gamma&master_count=1&ng_count=1`);
  await a.page.waitForSelector('#plan-quota');
  assert.equal(await a.page.textContent('#plan-quota'), 'over quota');
  assert.equal(await a.page.isDisabled('#create-cluster'), true);

  // The admin opens a user's cluster page, and the user adds a node group to it.
  const r = await page.goto(aUrl);
  assert.equal(r.status(), 200);
  await page.waitForSelector('#cluster-name:text-is("alpha")');
  await a.page.goto(aUrl);
  await hydrated(a.page);
  await a.page.click('#add-node-group');
  await a.page.waitForURL(`${aUrl}/add-node-group`);
  await hydrated(a.page);
  await a.page.fill('#name', 'Bad_Name');
  await a.page.click('#review-node-group');
  await a.page.waitForSelector('#plan [role=alert]');
  await a.page.fill('#name', 'gpu');
  await a.page.click('#review-node-group');
  await a.page.waitForSelector('#plan-resources');
  await a.page.click('#create-node-group');
  await a.page.waitForURL(aUrl);
  await a.page.waitForSelector('#node-groups tr[data-node-group=gpu]');
  await waitActive(a.page);
  await ctx.close();
  await aCtx.close();
  await bCtx.close();
});

test('the cluster page follows a create as it runs, without reloading (server-sent events)', async () => {
  const instant = { server_build_seconds: 0, volume_seconds: 0, lb_seconds: 0, lb_update_seconds: 0 };
  await setCloudBehaviour(server, { server_build_seconds: 3, volume_seconds: 1, lb_seconds: 2, lb_update_seconds: 0.2 });
  try {
    const ctx = await browser.newContext();
    const { page } = await signUp(ctx, 'live');
    await startThroughForm(page, 'live');
    await hydrated(page);
    await page.evaluate(() => { window.__stayed = true; });
    assert.equal(await page.textContent('#cluster-status'), 'CREATING');
    // The create operation's own page, open beside it, follows it too.
    const opPage = await ctx.newPage();
    await opPage.goto(`${server.url}${await page.getAttribute('#operations tr[data-operation] a', 'href')}`);
    await hydrated(opPage);
    await opPage.evaluate(() => { window.__stayed = true; });
    assert.notEqual(await opPage.textContent('#operation-state'), 'succeeded');
    const seen = new Set();
    for (let i = 0; i < 240; i++) {
      const done = await page.$eval('#operations progress', (p) => p.value).catch(() => null);
      if (done !== null) seen.add(done);
      if ((await page.textContent('#cluster-status')) === 'ACTIVE') break;
      await page.waitForTimeout(250);
    }
    assert.equal(await page.textContent('#cluster-status'), 'ACTIVE');
    assert.equal(await page.evaluate(() => window.__stayed), true, 'the page was not reloaded');
    assert.ok(seen.size >= 3, `the progress bar moved through several values: ${[...seen]}`);
    await opPage.waitForSelector('#operation-state:text-is("succeeded")', { timeout: 30_000 });
    assert.equal(await opPage.evaluate(() => window.__stayed), true, 'the operation page was not reloaded');
    assert.ok(await opPage.$$eval('#steps tbody tr[data-state=succeeded]', (trs) => trs.length) >= 5);
    await ctx.close();
  } finally {
    await setCloudBehaviour(server, instant);
  }
});

test('a failed operation is retried from the cluster page, in place', async () => {
  const ctx = await browser.newContext();
  const { page } = await signUp(ctx, 'retry');
  const clusterUrl = await createThroughForm(page, 'again');
  // A slow cloud, a delete, and an abort: the delete stops failed (nothing is put back).
  await setCloudBehaviour(server, { api_latency_ms: 3000 });
  try {
    await page.goto(`${clusterUrl}/delete`);
    await hydrated(page);
    await page.fill('#confirm', 'again');
    await page.click('#confirm-delete');
    // (The record says at once which operation runs; the page asks the slow cloud too.)
    const id = clusterUrl.split('/clusters/')[1];
    let running;
    for (let i = 0; i < 600 && !running; i++) {
      const shown = await (await page.request.get(`${server.url}/api/v1/clusters/${id}`, { headers: { accept: 'application/json' } })).json();
      running = shown.cluster.operations.find((o) => o.kind === 'cluster.delete');
      if (!running) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(running, 'the delete started');
    await page.goto(`${server.url}/operations/${running.id}`);
    await hydrated(page);
    await page.click('#operation-action button');
    await page.waitForSelector('#operation-state:text-is("failed")', { timeout: 60_000 });
  } finally {
    await setCloudBehaviour(server, { api_latency_ms: 0 });
  }
  // The cluster's page offers the retry; it posts without leaving the page, which reads
  // the cluster again at once (the failed delete runs again) and follows the delete to its
  // end: the cluster is gone. (The delete can finish before the page opens its live
  // stream, which is then refused: the page reads the cluster once more.)
  await page.goto(clusterUrl);
  await hydrated(page);
  await page.evaluate(() => { window.__stayed = true; });
  await page.click('#operations tr[data-state=failed] button[type=submit]');
  await page.waitForSelector('#operations tr[data-state=failed]', { state: 'detached', timeout: 30_000 });
  assert.equal(await page.$('[role=alert]:not([data-status="404"])'), null, 'the retry was accepted');
  assert.equal(await page.evaluate(() => window.__stayed), true, 'no full page load');
  assert.equal(page.url(), clusterUrl);
  const api = clusterUrl.replace('/clusters/', '/api/v1/clusters/');
  let status = 200;
  for (let i = 0; i < 240 && status !== 404; i++) {
    status = (await page.request.get(api, { headers: { accept: 'application/json' } })).status();
    if (status !== 404) await page.waitForTimeout(250);
  }
  assert.equal(status, 404, 'the retried delete finished');
  await page.waitForSelector('[role=alert][data-status="404"]', { timeout: 30_000 }).catch(async (e) => {
    throw new Error(`the page did not follow the delete to its end: ${e.message}: ${await page.innerHTML('#cluster-page').catch(() => '')}`);
  });
  assert.equal(await page.evaluate(() => window.__stayed), true, 'still no full page load');
  await ctx.close();
});

test('API tokens: created (shown once), used, revoked', async () => {
  const ctx = await browser.newContext();
  const { page } = await signUp(ctx, 'tokens');
  await page.goto(`${server.url}/account`);
  await hydrated(page);
  await page.fill('#token-name', 'ci');
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#new-token-secret');
  const secret = (await page.textContent('#new-token-secret')).trim();
  const createdUrl = page.url();
  assert.match(createdUrl, /\/account\?token=/);
  assert.match(secret, /^sy_/);
  const ok = await fetch(`${server.url}/api/v1/clusters`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(ok.status, 200);
  // Shown once: any other page drops it, and it does not come back.
  await page.goto(`${server.url}/account`);
  await page.waitForSelector('#token-list tr[data-token=ci]');
  assert.equal(await page.$('#new-token-secret'), null);
  await page.goto(createdUrl);
  await page.waitForSelector('#token-list tr[data-token=ci]');
  assert.equal(await page.$('#new-token-secret'), null);
  await hydrated(page);
  await page.click('#token-list tr[data-token=ci] button');
  await page.waitForSelector('#token-list tr[data-token=ci] td:text-is("revoked")');
  const denied = await fetch(`${server.url}/api/v1/clusters`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(denied.status, 401);
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
