// Test harness: starts a real `shipyard` (fresh SQLite data directory, free port) and a
// real headless Debian Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const ADMIN_EMAIL = 'admin@e2e.test';
export const ADMIN_PASSWORD = 'admin password for e2e';

/** Starts shipyard and resolves once it prints its address. */
export async function startServer(extraEnv = {}) {
  const bin = process.env.SHIPYARD_BIN;
  if (!bin) throw new Error('SHIPYARD_BIN is not set (run through `make test`)');
  const dataDir = mkdtempSync(join(tmpdir(), 'shipyard-e2e-'));
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const child = spawn(bin, [], {
    env: {
      ...env,
      SHIPYARD_LISTEN: '127.0.0.1:0',
      SHIPYARD_DATA_DIR: dataDir,
      SHIPYARD_ADMIN_EMAIL: ADMIN_EMAIL,
      SHIPYARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
      SHIPYARD_CLOUD: 'embedded',
      SHIPYARD_LOCALCLOUD_LISTEN: '127.0.0.1:0',
      SHIPYARD_LOCALCLOUD_INSTANT: 'true',
      // Servers of this cloud get addresses of a /24 of their own (as the Rust suites'
      // clouds do), away from `make run`'s 127.10.0.0/16.
      SHIPYARD_LOCALCLOUD_SUBNET: `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 256)}.0/24`,
      // Every test signs its users up from 127.0.0.1: more than one address may in an hour.
      SHIPYARD_SIGNUPS_PER_ADDRESS_PER_HOUR: '1000',
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`shipyard did not start:\n${output}`)), 60_000);
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(/listening on (http:\/\/[0-9.:]+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`shipyard exited (${code}):\n${output}`)));
  });
  // Whatever the server says after start-up (warnings, errors, panics) goes to the test's
  // stderr, next to the failure it may explain.
  const forward = (chunk) => process.stderr.write(`[shipyard] ${chunk}`);
  child.stdout.on('data', forward);
  child.stderr.on('data', forward);
  const cloud = output.match(/Embedded localcloud \(OpenStack APIs\) at (http:\/\/[0-9.:]+)/);
  return {
    url,
    dataDir,
    // The embedded localcloud's base URL and its admin's password (random, kept in its
    // data directory).
    cloudUrl: cloud ? cloud[1] : null,
    cloudPassword: cloud ? readFileSync(join(dataDir, 'localcloud', 'admin.password'), 'utf8').trim() : null,
    // `OS_CLIENT_CONFIG_FILE` for the real openstack CLI against the embedded cloud.
    cloudsYaml: join(dataDir, 'localcloud', 'clouds.yaml'),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A fresh headless Chromium with its own profile directory. */
export async function startBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'shipyard-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
      // A fresh profile calls Google (accounts, component updates, autofill) even with
      // the flags above; these point those calls at a closed loopback port, so the
      // suite's loopback-only check counts nothing.
      '--gaia-url=http://127.0.0.1:9',
      '--component-updater=url-source=http://127.0.0.1:9/',
      '--autofill-server-url=http://127.0.0.1:9/',
    ],
  });
  watchContext(context);
  return {
    context,
    async newContext(options = {}) {
      // An isolated cookie jar in the same browser, for a second user.
      const browser = context.browser();
      if (browser) return watchContext(await browser.newContext(options));
      throw new Error('no browser handle');
    },
    async stop() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// What each page printed as errors, failed to fetch, or threw: a test that times out
// waiting for hydration says why.
const pageLogs = new WeakMap();
// Everything the pages' Content-Security-Policy refused, across the run (see
// `cspViolations()`): the hydrated console must work under its own policy.
const cspViolations = [];
export function refusedByCsp() {
  return [...cspViolations];
}
function watchContext(context) {
  const watch = (page) => {
    const log = [];
    pageLogs.set(page, log);
    // Panics and uncaught errors also go to stderr at once, next to whichever wait
    // then fails (a refused request's "Failed to load resource" is expected in tests).
    const loud = (line) => process.stderr.write(`[browser ${page.url()}] ${line}\n`);
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') log.push(`console.${m.type()}: ${m.text()}`);
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${page.url()}: ${m.text()}`);
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) loud(m.text());
    });
    page.on('pageerror', (e) => {
      log.push(`uncaught: ${e.stack ?? e}`);
      loud(`uncaught: ${e.message ?? e}`);
    });
    page.on('requestfailed', (r) => log.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
    page.on('response', (r) => {
      if (r.status() >= 500) log.push(`HTTP ${r.status()}: ${r.url()}`);
    });
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return context;
}

/** Waits until the page's WASM has hydrated (the app marks <body>). */
export async function hydrated(page) {
  try {
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
  } catch (e) {
    const log = pageLogs.get(page) ?? ['(page not watched)'];
    e.message += `\n${page.url()} never hydrated; the page's log:\n  ${log.join('\n  ') || '(empty)'}`;
    throw e;
  }
}

let counter = 0;
export function uniqueEmail(prefix = 'user') {
  counter += 1;
  return `${prefix}-${Date.now()}-${counter}@example.com`;
}

/** Changes the embedded cloud's latencies and fault rates (fields left out take their defaults). */
export async function setCloudBehaviour(server, behaviour) {
  const cloudUrl = server.cloudUrl;
  const auth = await fetch(`${cloudUrl}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: {
      identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: server.cloudPassword } } },
      scope: { project: { name: 'admin', domain: { name: 'Default' } } },
    } }),
  });
  if (!auth.ok) throw new Error(`localcloud token: ${auth.status} ${await auth.text()}`);
  const token = auth.headers.get('x-subject-token');
  const put = await fetch(`${cloudUrl}/admin/behaviour`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', 'x-auth-token': token },
    body: JSON.stringify(behaviour),
  });
  if (!put.ok) throw new Error(`localcloud behaviour: ${put.status} ${await put.text()}`);
}

/** Signs a new user up through the form; `prefix` names them and makes their password. */
export async function signUp(ctx, serverUrl, prefix) {
  const page = await ctx.newPage();
  const email = uniqueEmail(prefix);
  await page.goto(`${serverUrl}/signup`);
  await hydrated(page);
  await page.fill('#email', email);
  await page.fill('#password', `${prefix} long password`);
  await page.click('#signup-form button[type=submit]');
  await page.waitForURL(`${serverUrl}/clusters`);
  return { page, email, password: `${prefix} long password` };
}
