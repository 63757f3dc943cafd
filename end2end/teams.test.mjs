// Teams in the portal: the first run creates the admin, people sign in through the form, each
// sees only their team's work on a shared cluster, a viewer is offered no change and a forged
// one is refused, and signing out ends the session on the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, callApi, fixtures, launchBrowser, startServer } from './harness.mjs';

let browser, first, shared;
const password = 'a team member password';

before(async () => {
  browser = await launchBrowser();
  first = await startServer([], { bare: true });
  shared = await startServer();
  const { base } = shared;
  for (const team of ['alpha', 'beta']) await callApi(base, 'POST', '/api/v1/teams', { teamName: team });
  for (const [user, team, role] of [['dana', 'alpha', 'deployer'], ['vic', 'alpha', 'viewer'], ['bo', 'beta', 'maintainer']]) {
    await callApi(base, 'POST', '/api/v1/users', { username: user, password });
    await callApi(base, 'PUT', `/api/v1/teams/${team}/members/${user}`, { role });
  }
  await callApi(base, 'POST', '/api/v1/clusters', { clusterName: 'shared' });
  await callApi(base, 'POST', '/api/v1/clusters', { clusterName: 'admins-only' });
  for (const team of ['alpha', 'beta']) await callApi(base, 'PUT', `/api/v1/clusters/shared/teams/${team}`);
  const web = JSON.parse(readFileSync(join(fixtures, 'web-nginx.json'), 'utf8'));
  for (const team of ['alpha', 'beta']) {
    await callApi(base, 'POST', `/api/v1/task-definitions?team=${team}`, { ...web, family: `${team}-web` });
    await callApi(base, 'POST', '/api/v1/clusters/shared/services', { serviceName: `${team}-svc`, taskDefinition: `${team}-web`, desiredCount: 0 });
  }
});

after(async () => {
  await browser?.close();
  first?.process.kill('SIGTERM');
  shared?.process.kill('SIGTERM');
});

/** A fresh browser context signed in through the sign-in form. */
async function signInAs(base, username) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  await page.goto(`${base}/clusters`);
  await page.waitForURL(/\/login\?next=%2Fclusters/);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/clusters`);
  await page.waitForSelector('body[data-hydrated="true"]');
  return page;
}

test('the first visit creates the admin, and signing out ends the session', async () => {
  const { base } = first;
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${base}/`);
  await page.waitForURL(`${base}/setup`);
  // Until then the API answers nothing but the setup.
  const refused = await fetch(`${base}/api/v1/clusters`);
  assert.equal(refused.status, 401);
  assert.match((await refused.json()).message, /no admin yet/);
  await page.fill('#username', 'root');
  await page.fill('#password', 'short');
  await page.screenshot({ path: join(artifacts, '12-first-run.png') });
  // The browser itself refuses a password under 10 characters; the server says why too.
  await page.$eval('form.account-form', (f) => f.noValidate = true);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/setup\?error=/);
  assert.match(await page.textContent('#account-error'), /password: a password is 10 to 256 characters/);
  await page.fill('#password', 'correct horse battery');
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.match(await page.textContent('#user-menu'), /root\s*admin/);
  // A second visitor finds the setup closed.
  const again = await fetch(`${base}/api/v1/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'eve', password: 'eve wants admin' }) });
  assert.equal(again.status, 409);
  await page.click('#sign-out');
  await page.waitForURL(/\/login/);
  await page.goto(`${base}/clusters`);
  await page.waitForURL(/\/login\?next=%2Fclusters/);
  await page.screenshot({ path: join(artifacts, '13-signed-out.png') });
  await page.close();
});

test('a deployer sees only their team\'s services and the clusters shared with it', async () => {
  const { base } = shared;
  const page = await signInAs(base, 'dana');
  const clusters = await page.$$eval('#clusters tbody tr td:first-child', (tds) => tds.map((td) => td.textContent.trim()));
  assert.deepEqual(clusters, ['shared']);
  assert.equal(await page.locator('#cluster-name').count(), 0, 'no create-cluster form for a deployer');
  await page.goto(`${base}/clusters/shared`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const services = await page.$$eval('#services tbody tr td:first-child', (tds) => tds.map((td) => td.textContent.trim()));
  assert.deepEqual(services, ['alpha-svc']);
  assert.match(await page.textContent('#user-menu'), /dana\s*alpha \(deployer\)/);
  await page.screenshot({ path: join(artifacts, '14-deployer-sees-own-team.png'), fullPage: true });
  // Another team's service is refused with the reason, not shown.
  await page.goto(`${base}/clusters/shared/services/beta-svc`);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.match(await page.textContent('main'), /not a member of team 'beta'/);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('a viewer is offered no change, and a change forged from their page is refused', async () => {
  const { base } = shared;
  const page = await signInAs(base, 'vic');
  await page.goto(`${base}/clusters/shared/services/alpha-svc`);
  await page.waitForSelector('#service-config');
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.locator('#update-service').count(), 0, 'no update form');
  await page.goto(`${base}/task-definitions/alpha-web/1`);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.getByRole('button', { name: 'Deregister' }).count(), 0, 'no deregister button');
  await page.screenshot({ path: join(artifacts, '15-viewer-read-only.png'), fullPage: true });
  // The same request the update form would send, forged from the viewer's own page.
  const forged = await page.evaluate(async () => {
    const res = await fetch('/api/v1/clusters/shared/services/alpha-svc', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"desiredCount": 5}' });
    return { status: res.status, body: await res.json() };
  });
  assert.equal(forged.status, 403, JSON.stringify(forged));
  assert.match(forged.body.message, /vic is a viewer of team 'alpha'; this needs a deployer/);
  const { service } = await callApi(base, 'GET', '/api/v1/clusters/shared/services/alpha-svc');
  assert.equal(service.desiredCount, 0, 'nothing changed');
  const { entries } = await callApi(base, 'GET', '/api/v1/audit?team=alpha');
  assert.ok(entries.some((e) => e.actor === 'vic' && e.action === 'UpdateService' && e.result === 'denied'), 'the refusal is in the audit log');
  assert.deepEqual(page.problems, []);
  await page.close();
});
