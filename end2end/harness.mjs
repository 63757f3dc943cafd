// What the browser journeys share: paths, a real wharf-server on a free port, Debian's
// Chromium through playwright-core, and pages that report their console errors.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { connect } from 'node:tls';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const fixtures = process.env.WHARF_FIXTURES ?? join(root, 'fixtures', 'task-definitions');
export const artifacts = join(root, 'end2end', 'artifacts');
export const bin = (name) => join(process.env.WHARF_BIN_DIR ?? join(root, 'target', 'debug'), name);
mkdirSync(artifacts, { recursive: true });

/** An API answer other than 2xx. */
export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

/**
 * Polls `check` until it returns something truthy; throws after `ms`. A check that throws is
 * retried (a server still starting refuses connections), except on a server error, which
 * fails at once; on timeout the last error is part of the message.
 */
export async function until(what, ms, check) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      if (e instanceof ApiError && e.status >= 500) throw e;
      last = e;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
}

/** The first admin of every test server, and each server's admin API token by its base URL. */
export const admin = { username: 'admin', password: 'e2e-admin-password' };
const tokens = new Map();
const sessions = new Map();

/** Calls the JSON API at `base` as its admin (or with `token`); fails on any status other than 2xx. */
export async function callApi(base, method, path, body, token = tokens.get(base)) {
  const headers = body ? { 'content-type': 'application/json' } : {};
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json();
  if (!res.ok) throw new ApiError(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`, res.status);
  return json;
}

/** Runs `wharf-server <args>` on a server's data folder, as an operator's script would. */
export function serverCommand(data, args) {
  return execFileSync(bin('wharf-server'), ['--data-dir', data, ...args],
    { env: { ...process.env, WHARF_ADMIN_PASSWORD: admin.password, RUST_LOG: 'warn' }, encoding: 'utf8' });
}

/**
 * Starts wharf-server (SQLite in a temp folder) with extra flags; resolves to { process, base,
 * port, data, token }. Passing `port` and `data` of an earlier one restarts that server. The
 * first admin is made with the command line once the server is up, unless `bare`.
 */
export async function startServer(extra = [], { port: reuse, data: kept, bare = false } = {}) {
  const data = kept ?? mkdtempSync(join(tmpdir(), 'wharf-e2e-'));
  // Port 0 on a first start: the server binds a free port itself and names it in its log (no
  // race with another process between finding a port and binding it); a restart keeps it.
  const process_ = spawn(bin('wharf-server'),
    ['--listen', `127.0.0.1:${reuse ?? 0}`, '--data-dir', data, '--site-dir', join(root, 'target', 'site'), ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const { scheme, port, certificate } = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`wharf-server named no port within 30 s:\n${seen}`)), 30000);
    process_.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      seen += chunk;
      const found = seen.match(/Wharf is up at (https?):\/\/127\.0\.0\.1:(\d+)/);
      if (found) { clearTimeout(timer); resolve({ scheme: found[1], port: Number(found[2]), certificate: seen.match(/TLS certificate SHA-256: ([0-9a-f]+)/)?.[1] }); }
    });
    process_.on('exit', (code) => { clearTimeout(timer); reject(new Error(`wharf-server exited (${code}):\n${seen}`)); });
  });
  const base = `${scheme}://127.0.0.1:${port}`;
  if (scheme === 'https') await trustCertificate(port, certificate);
  await until(`${base}/readyz`, 30000, async () => (await fetch(`${base}/readyz`)).ok);
  if (!bare && !tokens.has(base)) {
    serverCommand(data, ['admin', 'create', '--username', admin.username]);
    const out = serverCommand(data, ['token', 'create', '--username', admin.username]).trim().split('\n');
    tokens.set(base, out[out.length - 1].trim());
  }
  return { process: process_, base, port, data, certificate, token: tokens.get(base) };
}

/**
 * A self-signed server's certificate is checked here against the fingerprint the server
 * printed, as the agent's install command pins it; after that, this process's fetch accepts
 * it (Node's fetch takes no per-request CA, and this process talks to test servers only).
 */
async function trustCertificate(port, printed) {
  const presented = await new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256.replaceAll(':', '').toLowerCase());
      socket.end();
    });
    socket.on('error', reject);
  });
  if (presented !== printed) throw new Error(`the server presents certificate ${presented}, not the ${printed} it printed`);
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
}

/**
 * Opens, in a browser signed in to `base` with `session`, a page of another origin whose form
 * posts `body` to `path` as text/plain (a body that reads as JSON) after a no-cors fetch of
 * the same; resolves to the text of the page the form's post lands on.
 */
export async function crossSiteAttempt(browser, base, session, path, body) {
  const json = JSON.stringify(body);
  const [head, tail] = [json.slice(0, -1) + ', "x": "', '"}'];
  const html = `<!doctype html><title>evil</title>
    <form id="f" method="POST" action="${base}${path}" enctype="text/plain">
      <input name='${head}' value='${tail}'>
    </form>
    <script>
      fetch('${base}${path}', { method: 'POST', mode: 'no-cors', body: ${JSON.stringify(json)} })
        .finally(() => document.getElementById('f').submit());
    </script>`;
  const evil = createServer((_, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end(html); });
  await new Promise((resolve) => evil.listen(0, '127.0.0.1', resolve));
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  try {
    await page.context().addCookies([{ name: 'wharf_session', value: session, url: base, httpOnly: true, sameSite: 'Strict', secure: base.startsWith('https') }]);
    await page.goto(`http://127.0.0.1:${evil.address().port}/`);
    await page.waitForURL(`${base}${path}`);
    return { page, text: await page.textContent('body') };
  } finally {
    evil.close();
  }
}

/** Signs in through the API; resolves to the session cookie's value. */
export async function signIn(base, { username, password } = admin) {
  const res = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  if (!res.ok) throw new ApiError(`sign in as ${username}: ${res.status} ${await res.text()}`, res.status);
  const cookie = (res.headers.get('set-cookie') ?? '').match(/wharf_session=([0-9a-f]+)/);
  if (!cookie) throw new Error('no session cookie');
  return cookie[1];
}

/**
 * Creates `cluster` and joins `count` simulated hosts to it (`wharf-agent simulate`, one real
 * WebSocket session each); resolves to the simulator's process once every one is connected.
 * `agentArgs` go before `simulate`, `simArgs` after it; `quiet` keeps its output to warnings.
 * The simulated hosts all join with one token, so the cluster takes their word for their zone.
 */
export async function simulatedCluster(base, cluster, count, { agentArgs = [], simArgs = [], quiet = false } = {}) {
  await callApi(base, 'POST', '/api/v1/clusters', { clusterName: cluster, trustedAttributes: [] });
  const { token } = await callApi(base, 'POST', `/api/v1/clusters/${cluster}/join-tokens`, {});
  const agents = spawn(bin('wharf-agent'), ['--state-dir', mkdtempSync(join(tmpdir(), 'wharf-e2e-sim-')), '--server', base, '--cluster', cluster,
    '--token', token, ...agentArgs, 'simulate', '--count', String(count), ...simArgs],
  { stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'inherit'], env: quiet ? { ...process.env, RUST_LOG: 'warn' } : process.env });
  await until(`${count} simulated instances`, Math.max(30000, count * 90), async () =>
    (await callApi(base, 'GET', `/api/v1/clusters/${cluster}/topology?detail=instances`)).summary.connected === count);
  return agents;
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/**
 * Opens `path` signed in (as the admin, or `as` {username, password}; `as: null` signed out),
 * waits for hydration; `page.problems` collects page errors and console errors.
 */
export async function openPage(browser, base, path, { as = admin, hydrated = true } = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
  if (as) {
    const key = `${base} ${as.username}`;
    if (!sessions.has(key)) sessions.set(key, await signIn(base, as));
    await page.context().addCookies([{ name: 'wharf_session', value: sessions.get(key), url: base, httpOnly: true, sameSite: 'Strict', secure: base.startsWith('https') }]);
  }
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  // Docker adding a container's interfaces makes Chromium abort requests in flight with
  // ERR_NETWORK_CHANGED: the machine's doing, not the page's. The split modules' loader tries
  // again; a lost server-function call shows as the page's own error and fails the test anyway.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('net::ERR_NETWORK_CHANGED')) problems.push(`console: ${m.text()}`); });
  // What the network lost, to say why when a page never hydrates, and how often the page
  // loaded itself again for a module it lost.
  const lost = [];
  page.on('requestfailed', (r) => lost.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.reloads = 0;
  page.on('console', (m) => { if (m.type() === 'warning' && m.text().startsWith('loading the page again')) page.reloads++; });
  await page.goto(`${base}${path}`);
  if (hydrated) {
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 }).catch((e) => {
      throw new Error(`${path} did not hydrate; failed requests (the last 20 of ${lost.length}): ${JSON.stringify(lost.slice(-20))}; problems: ${JSON.stringify(problems)}`, { cause: e });
    });
  }
  page.problems = problems;
  page.lost = lost;
  return page;
}
