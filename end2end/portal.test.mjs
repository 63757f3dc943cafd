// Browser journeys through the portal: a real wharf-server (SQLite in a temp folder) and
// Debian's Chromium driven by playwright-core. Screenshots go to end2end/artifacts/.
// Each journey makes what it needs under names of its own, so any one of them runs alone
// (`--test-name-pattern`) and none depends on what an earlier one left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, callApi, crossSiteAttempt, fixtures, launchBrowser, openPage as open, root, signIn, startServer } from './harness.mjs';

let server, browser, base;

before(async () => {
  ({ process: server, base } = await startServer());
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

const openPage = (path) => open(browser, base, path);
const fixture = (name) => readFileSync(join(fixtures, name), 'utf8');
let made = 0;
/** A name no other journey uses, nor holds as a part (`has-text` matches parts). */
const unique = (prefix) => `${prefix}-${++made}-${process.pid.toString(36)}`;
/** Registers web-nginx.json under a family of its own; resolves to that family. */
async function registerWeb() {
  const family = unique('web');
  await callApi(base, 'POST', '/api/v1/task-definitions', { ...JSON.parse(fixture('web-nginx.json')), family });
  return family;
}
/** Creates a cluster of its own; resolves to its name. */
async function createCluster(prefix) {
  const clusterName = unique(prefix);
  await callApi(base, 'POST', '/api/v1/clusters', { clusterName });
  return clusterName;
}

test('registers web-nginx.json through the JSON editor', async () => {
  const family = unique('web');
  const document = fixture('web-nginx.json').replace('"family": "web"', `"family": "${family}"`);
  assert.notEqual(document, fixture('web-nginx.json'), 'the fixture names its family "web"');
  const page = await openPage('/task-definitions/new');
  await page.fill('#td-json', document);
  await page.getByText('✓ Valid task definition').waitFor();
  await page.click('#register');
  await page.waitForURL(`**/task-definitions/${family}/1`);
  await page.getByRole('heading', { name: `${family}:1` }).waitFor();
  // The revision loads after navigation: wait for its containers table.
  await page.locator('td:has-text("nginx:1.27-alpine")').waitFor();
  await page.screenshot({ path: join(artifacts, '1-registered-web.png'), fullPage: true });
  // It is stored as registered: the API reads it back.
  const api = await callApi(base, 'GET', `/api/v1/task-definitions/${family}:1`);
  assert.equal(api.taskDefinition.containerDefinitions[0].image, 'nginx:1.27-alpine');
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('pasting describe output registers a new revision and names the ignored fields', async () => {
  const family = await registerWeb();
  const described = await callApi(base, 'GET', `/api/v1/task-definitions/${family}:1`);
  const page = await openPage('/task-definitions/new');
  await page.fill('#td-json', JSON.stringify(described, null, 2));
  await page.getByText('✓ Valid task definition').waitFor();
  // The keyboard registers too.
  await page.focus('#td-json');
  await page.keyboard.press('Control+Enter');
  await page.waitForURL(`**/task-definitions/${family}/2?ignored=*`);
  const notice = page.locator('#ignored-fields');
  await notice.waitFor();
  assert.match(await notice.textContent(), /taskDefinitionArn/);
  assert.match(await notice.textContent(), /revision/);
  await page.screenshot({ path: join(artifacts, '1b-registered-from-describe.png'), fullPage: true });
  await page.close();
});

test('marks the missing image of invalid/missing-image.json without a reload', async () => {
  const page = await openPage('/task-definitions/new');
  // A reload would wipe this marker.
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.fill('#td-json', fixture('invalid/missing-image.json'));
  const error = page.locator('.field-errors li[data-field="containerDefinitions[0].image"]');
  await error.waitFor();
  assert.match(await error.textContent(), /needs an image/);
  const marked = page.locator('.editor-line.error');
  assert.ok(await marked.count() >= 1, 'the offending line is marked');
  assert.equal(await page.locator('#register').isDisabled(), true);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page reloaded');
  await page.screenshot({ path: join(artifacts, '2-missing-image-marked.png'), fullPage: true });
  // Fixing the document clears the marks.
  const fixed = JSON.parse(fixture('invalid/missing-image.json'));
  fixed.containerDefinitions[0].image = 'busybox';
  await page.fill('#td-json', JSON.stringify(fixed, null, 2));
  await page.getByText('✓ Valid task definition').waitFor();
  assert.equal(await marked.count(), 0);
  await page.close();
});

test('the form writes the same JSON the editor holds', async () => {
  const page = await openPage('/task-definitions/new');
  await page.click('#tab-form');
  await page.fill('#f-family', 'from-form');
  await page.fill('#f-image', 'busybox:1');
  await page.fill('#f-memory', '4');
  await page.locator('.field-errors li[data-field="containerDefinitions[0].memory"]').waitFor();
  await page.fill('#f-memory', '64');
  await page.getByText('✓ Valid task definition').waitFor();
  await page.click('#tab-json');
  const json = JSON.parse(await page.inputValue('#td-json'));
  assert.equal(json.family, 'from-form');
  assert.equal(json.containerDefinitions[0].memory, 64);
  await page.close();
});

test('creates a cluster and a service from a registered revision and lists them', async () => {
  const family = await registerWeb();
  const cluster = unique('production');
  const page = await openPage('/clusters');
  await page.screenshot({ path: join(artifacts, '3-clusters.png'), fullPage: true });
  await page.fill('#cluster-name', cluster);
  await page.click('button:has-text("Create cluster")');
  await page.waitForURL(`**/clusters/${cluster}`);
  await page.getByText('No services in this cluster').waitFor();
  // A new cluster keeps its tasks off the host.
  assert.match(await page.textContent('#task-policy'), /Task policy: restricted — tasks may not run privileged/);
  await page.click('a:has-text("Create service")');
  await page.waitForURL(`**/clusters/${cluster}/services/new`);
  await page.fill('#s-name', 'storefront');
  await page.selectOption('#s-td', `${family}:1`);
  await page.fill('#s-desired', '2');
  await page.fill('#s-expr', 'attribute:ecs.os-type == linux');
  await page.fill('#s-strategy-list', 'spread(attribute:ecs.availability-zone), binpack(memory)');
  assert.equal(await page.locator('#s-strategy').isDisabled(), true, 'a written list overrides the preset');
  await page.click('#create');
  await page.waitForURL(`**/clusters/${cluster}/services/storefront`);
  const config = page.locator('#service-config');
  await config.waitFor();
  assert.ok((await config.textContent()).includes(`${family}:1`));
  assert.match(await config.textContent(), /minimum healthy 100%, maximum 200%/);
  assert.match(await config.textContent(), /spread\(attribute:ecs\.availability-zone\), binpack\(memory\)/);
  assert.ok((await page.textContent('#events')).includes(`was created with task definition ${family}:1`));
  // The page follows the cluster's live feed; the scheduler's reason for waiting tasks (the
  // cluster has no hosts yet) arrives through it without a reload.
  await page.locator('#live.live-on').waitFor();
  assert.equal(await page.textContent('#live'), 'Live');
  const pending = page.locator('#pending-reason');
  await pending.waitFor({ timeout: 15000 });
  assert.match(await pending.textContent(), /no container instances/);
  await page.screenshot({ path: join(artifacts, '4-service.png'), fullPage: true });

  await page.goto(`${base}/clusters/${cluster}`);
  await page.locator('#services a:has-text("storefront")').waitFor();
  await page.screenshot({ path: join(artifacts, '5-cluster-with-service.png'), fullPage: true });
  await page.goto(`${base}/clusters`);
  await page.locator(`#clusters a:has-text("${cluster}")`).waitFor();
  await page.screenshot({ path: join(artifacts, '6-clusters.png'), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('run task checks its constraint as it is typed and says why nothing could be placed', async () => {
  const family = await registerWeb();
  const cluster = await createCluster('run');
  const page = await openPage(`/clusters/${cluster}`);
  // Run task is a page of its own, as in ECS's console, reached from the cluster's.
  await page.click('#open-run-task');
  await page.waitForURL(`${base}/clusters/${cluster}/run-task`);
  await page.locator('#run-task').waitFor();
  await page.selectOption('#r-td', `${family}:1`);
  await page.fill('#r-expr', 'attribute:zone in [a, b');
  await page.locator('#run-task small.bad').waitFor();
  assert.match(await page.textContent('#run-task small.bad'), /never closed|expected/);
  await page.fill('#r-expr', 'attribute:zone in [a, b]');
  await page.locator('#run-task small.bad').waitFor({ state: 'detached' });
  await page.fill('#r-count', '2');
  await page.click('#run');
  const failures = page.locator('#run-failures');
  await failures.waitFor();
  assert.match(await failures.textContent(), /MISSING.*no container instances/);
  await page.screenshot({ path: join(artifacts, '6b-run-task-failures.png'), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('an admin sets a cluster\'s task policy in the portal, told of a wrong path by its field', async () => {
  const cluster = await createCluster('policy');
  const page = await openPage(`/clusters/${cluster}`);
  assert.match(await page.locator('#task-policy').textContent(), /restricted/);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.click('#open-settings');
  await page.locator('#cluster-settings').waitFor();
  assert.equal(await page.locator('#policy-level').inputValue(), 'restricted', 'the form starts from what the cluster has');
  assert.ok(await page.locator('#allowed-host-paths').isDisabled(), 'host paths mean something to baseline only');
  await page.selectOption('#policy-level', 'baseline');
  await page.fill('#allowed-host-paths', '/srv/data, srv/cache');
  await page.click('#save-settings');
  const error = page.locator('.field-errors li[data-field="taskPolicy.allowedHostPaths[1]"]');
  await error.waitFor();
  assert.match(await error.textContent(), /absolute/);
  await page.screenshot({ path: join(artifacts, '7c-cluster-settings.png'), fullPage: true });
  assert.equal((await callApi(base, 'GET', `/api/v1/clusters/${cluster}`)).cluster.taskPolicy.level, 'restricted', 'nothing wrong is kept');
  // A change elsewhere in the cluster reloads the page's data live, not what is being typed.
  const family = await registerWeb();
  await callApi(base, 'POST', `/api/v1/clusters/${cluster}/services`, { serviceName: unique('kept'), taskDefinition: family, desiredCount: 0 });
  await page.locator('#services tbody tr').first().waitFor();
  assert.equal(await page.locator('#allowed-host-paths').inputValue(), '/srv/data, srv/cache');
  assert.equal(await page.locator('#policy-level').inputValue(), 'baseline');
  await page.fill('#allowed-host-paths', '/srv/data, /var/cache/app');
  await page.click('#save-settings');
  await page.locator('#cluster-settings').waitFor({ state: 'detached' });
  await page.locator('#task-policy', { hasText: 'baseline' }).waitFor();
  assert.match(await page.locator('#task-policy').textContent(), /host paths under \/srv\/data, \/var\/cache\/app/);
  const { cluster: stored } = await callApi(base, 'GET', `/api/v1/clusters/${cluster}`);
  assert.deepEqual(stored.taskPolicy, { level: 'baseline', allowedHostPaths: ['/srv/data', '/var/cache/app'] });
  assert.deepEqual(stored.trustedAttributes, ['ecs.availability-zone'], 'what was not changed stays');
  // Opened again, the form holds what was saved; privileged is said for what it is.
  await page.click('#open-settings');
  assert.equal(await page.locator('#policy-level').inputValue(), 'baseline');
  assert.equal(await page.locator('#allowed-host-paths').inputValue(), '/srv/data, /var/cache/app');
  assert.match(await page.locator('#policy-level option[value="privileged"]').textContent(), /take root on its hosts/);
  assert.deepEqual(page.problems, ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)'], 'only the refused save');
  await page.close();
});

test('a join token is shown once, listed without its secret and revocable', async () => {
  const page = await openPage(`/clusters/${await createCluster('tokens')}`);
  await page.fill('#jt-description', 'rack 3');
  await page.click('#jt-create');
  const token = (await page.locator('#new-token').textContent()).trim();
  assert.match(token, /^wjt_[0-9a-f]{16}_[0-9a-f]{64}$/);
  const row = page.locator('#join-token-list tbody tr', { hasText: 'rack 3' });
  await row.waitFor();
  assert.match(await row.textContent(), /ACTIVE/);
  assert.ok(!(await page.locator('#join-token-list').textContent()).includes(token.slice(21)), 'the list shows no secret');
  await page.screenshot({ path: join(artifacts, '7a-join-token.png'), fullPage: true });
  await row.getByRole('button', { name: 'Revoke', exact: true }).click();
  await page.locator('#join-token-list tbody tr', { hasText: 'REVOKED' }).waitFor();
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('a join token for one host is used up by it, and revoking it can remove that host', async () => {
  const cluster = await createCluster('one-host');
  const page = await openPage(`/clusters/${cluster}`);
  await page.fill('#jt-description', 'just one');
  await page.fill('#jt-max-uses', '0');
  await page.click('#jt-create');
  await page.locator('.field-errors:has-text("maxUses")').waitFor();
  await page.fill('#jt-max-uses', '1');
  await page.click('#jt-create');
  const token = (await page.locator('#new-token').textContent()).trim();
  const row = page.locator('#join-token-list tbody tr', { hasText: 'just one' });
  await row.locator('td:text-is("0 of 1")').waitFor();
  // One host joins; a second is refused, saying why.
  const host = (name) => fetch(`${base}/agent/v1/register`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, cluster, hostname: name, cpu: 1024, memory: 1024 }) });
  const first = await host('h1');
  assert.equal(first.status, 201);
  const joined = (await first.json()).containerInstance.id;
  const second = await host('h2');
  assert.equal(second.status, 401);
  assert.match((await second.json()).message, /used up/);
  await page.reload();
  // The row is drawn by the server; its button works once the page has hydrated.
  await page.waitForSelector('body[data-hydrated="true"]');
  await row.locator('td:text-is("1 of 1")').waitFor();
  assert.match(await row.textContent(), /USED_UP/);
  await row.getByRole('button', { name: 'Revoke and remove its hosts' }).click();
  await page.locator('#join-token-list tbody tr', { hasText: 'REVOKED' }).waitFor();
  const { containerInstance } = await callApi(base, 'GET', `/api/v1/clusters/${cluster}/container-instances/${joined}`);
  assert.equal(containerInstance.status, 'INACTIVE', 'the host that joined with it is deregistered');
  // The cluster's page follows: the host leaves its list without a reload (a deregistered
  // instance is listed only when asked for, as in ECS).
  await page.locator('#instances tbody tr', { hasText: 'h1' }).waitFor({ state: 'detached', timeout: 10000 });
  await page.getByText('No container instances yet').waitFor();
  await page.screenshot({ path: join(artifacts, '7b-join-token-used-up.png'), fullPage: true });
  // The one refusal provoked above (maxUses 0) is the only failed load.
  assert.deepEqual(page.problems, ['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  await page.close();
});

test('a service form error names the field inline', async () => {
  await registerWeb();
  const page = await openPage(`/clusters/${await createCluster('form')}/services/new`);
  await page.fill('#s-name', 'bad name!');
  await page.click('#create');
  const err = page.locator('.field-errors li[data-field="serviceName"]');
  await err.waitFor();
  assert.match(await err.textContent(), /letters, digits, hyphens and underscores/);
  await page.screenshot({ path: join(artifacts, '7-service-error.png'), fullPage: true });
  await page.close();
});

test('the dashboard and the task definition list show what exists', async () => {
  // A task definition, a cluster and a service exist; no host has joined.
  const family = await registerWeb();
  const cluster = await createCluster('dash');
  await callApi(base, 'POST', `/api/v1/clusters/${cluster}/services`, { serviceName: 'web', taskDefinition: family, desiredCount: 1 });
  const page = await openPage('/');
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  const done = page.locator('.steps li.done');
  assert.equal(await done.count(), 3, 'task definition, cluster and service steps are ticked');
  await page.screenshot({ path: join(artifacts, '8-dashboard.png'), fullPage: true });
  await page.click('nav a:has-text("Task definitions")');
  await page.locator(`#families a:has-text("${family}")`).waitFor();
  assert.equal(await page.title(), 'Task definitions · Wharf');
  // The list follows the live feed: a family registered elsewhere appears without a reload.
  await page.locator('#live.live-on').waitFor();
  const arriving = unique('arrives-live');
  await callApi(base, 'POST', '/api/v1/task-definitions', { family: arriving, containerDefinitions: [{ name: 'a', image: 'local/a:1', memory: 16 }] });
  await page.locator(`#families a:has-text("${arriving}")`).waitFor({ timeout: 5000 });
  await page.screenshot({ path: join(artifacts, '9-task-definitions.png'), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('at phone width the menu is one row, and a wrong address says where to go', async () => {
  const page = await openPage('/clusters');
  await page.setViewportSize({ width: 420, height: 860 });
  const nav = await page.locator('nav.sidebar').boundingBox();
  assert.ok(nav.height < 64, `the menu takes one row, not ${nav.height} px`);
  const links = await page.$$eval('nav.sidebar a', (as) => as.map((a) => a.getBoundingClientRect().top));
  assert.ok(Math.max(...links) - Math.min(...links) < 8, `menu links on one line: ${links}`);
  await page.screenshot({ path: join(artifacts, '10-phone-width.png') });
  await page.goto(`${base}/no/such/page`);
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
  const body = await page.textContent('.empty');
  assert.doesNotMatch(body, /on the left/);
  assert.match(body, /dashboard/);
  await page.close();
});

test('a page allows only its own scripts: an injected inline script does not run', async () => {
  const page = await openPage('/clusters');
  const response = await page.goto(`${base}/clusters`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const policy = response.headers()['content-security-policy'];
  const nonce = /script-src 'self' 'nonce-([^']+)' 'wasm-unsafe-eval'/.exec(policy)?.[1];
  assert.ok(nonce, policy);
  // Leptos's own inline module script carries this response's nonce, so the page came alive.
  assert.equal(await page.$eval('script[type=module]', (s) => s.nonce), nonce);
  // What an injection would add: an inline script without the nonce, and an inline handler.
  const ran = await page.evaluate(async () => {
    window.injected = false;
    const script = document.createElement('script');
    script.textContent = 'window.injected = true';
    document.body.append(script);
    const img = document.createElement('img');
    img.setAttribute('onerror', 'window.injected = true');
    img.src = 'data:,';
    document.body.append(img);
    await new Promise((done) => setTimeout(done, 200));
    return window.injected;
  });
  assert.equal(ran, false);
  // The browser reported both refusals; nothing else went wrong.
  assert.ok(page.problems.some((p) => /Content Security Policy/.test(p)), page.problems.join('\n'));
  assert.deepEqual(page.problems.filter((p) => !/Content Security Policy/.test(p)), []);
  await page.close();
});

test('a page of another site cannot change anything', async () => {
  // evil.example's page, served from another origin (another port), posts a form whose
  // text/plain body reads as JSON, and fires a fetch that needs no permission to be sent.
  const name = unique('evil');
  // The operator is signed in to Wharf in this browser while the other site's page is open.
  const { page, text } = await crossSiteAttempt(browser, base, await signIn(base), '/api/v1/clusters', { clusterName: name });
  // The form's post lands on the API's answer: refused, naming why.
  assert.match(text, /another site/);
  await page.screenshot({ path: join(artifacts, '11-cross-site-refused.png') });
  await page.close();
  const { clusters } = await callApi(base, 'GET', '/api/v1/clusters?maxResults=100');
  assert.deepEqual(clusters.filter((c) => c.clusterName.startsWith(name)), [], 'nothing was created');
});

// Docker adding a container's interfaces on the portal's host makes Chromium abort every
// request in flight with ERR_NETWORK_CHANGED, and a browser remembers a module it failed to
// fetch for the page's life. Real interface changes (veth pairs, as Docker makes) while pages
// of every kind load: each must still come alive, without an error of its own.
test('pages loading while the host\'s network changes still come alive', async () => {
  const cluster = await createCluster('netflap');
  const ip = (...args) => { try { execFileSync('ip', args, { stdio: 'ignore' }); } catch { /* already gone */ } };
  const [a, b] = [`wfa${process.pid % 100000}`, `wfb${process.pid % 100000}`];
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  let changing = true;
  const changes = (async () => {
    // As a container's start and stop do: a veth pair comes up, gets an address, and goes.
    for (let n = 0; changing; n++) {
      ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
      ip('link', 'set', a, 'up');
      ip('link', 'set', b, 'up');
      await sleep(150);
      ip('addr', 'add', `10.231.${n % 250}.1/24`, 'dev', a);
      await sleep(300);
      ip('link', 'del', a);
      await sleep(1500);
    }
  })();
  const pages = ['/', `/clusters/${cluster}`, `/clusters/${cluster}/diagram`, `/clusters/${cluster}/instances`, '/task-definitions', '/task-definitions/new', '/teams', `/clusters/${cluster}/services/new`];
  let lost = 0, reloads = 0;
  try {
    for (let round = 0; round < 3; round++) {
      for (const path of pages) {
        const page = await openPage(path);
        assert.deepEqual(page.problems, [], path);
        lost += page.lost.filter((l) => l.endsWith('ERR_NETWORK_CHANGED')).length;
        reloads += page.reloads;
        await page.close();
      }
    }
  } finally {
    changing = false;
    await changes;
  }
  console.log(`${pages.length * 3} pages hydrated; ${lost} requests lost to network changes, ${reloads} pages loaded again`);
  assert.ok(lost > 0, 'the interface changes aborted no request, so this proved nothing');
  assert.ok(reloads > 0, 'no page lost a module it needed, so the reload was not tried');
});

// Each build of the bundle has a folder of its own: a page names its build's files, which a
// browser may then keep for good without ever mixing two builds after an upgrade.
test('a page names the files of its own build, and those are kept by browsers for good', async () => {
  const build = readFileSync(join(root, 'target', 'site', 'pkg', 'BUILD'), 'utf8').trim();
  assert.match(build, /^[0-9a-f]{16}$/);
  const page = await openPage('/');
  const files = await page.$$eval('script[src], link[href]', (es) => es.map((e) => e.getAttribute('src') ?? e.getAttribute('href')).filter((u) => u.startsWith('/pkg/')));
  assert.ok(files.some((f) => f.endsWith('/wharf.css')) && files.some((f) => f.endsWith('/wharf.js')), JSON.stringify(files));
  for (const file of files) assert.ok(file.startsWith(`/pkg/${build}/`), `${file} is of build ${build}`);
  // The stylesheet applied (it is no longer where the old layout had it).
  assert.equal(await page.$eval('.layout', (l) => getComputedStyle(l).display), 'grid');
  for (const file of [`/pkg/${build}/wharf_bg.wasm`, `/pkg/${build}/wharf.css`]) {
    const res = await fetch(`${base}${file}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.status, 200, file);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', file);
  }
  assert.deepEqual(page.problems, []);
  await page.close();
});
