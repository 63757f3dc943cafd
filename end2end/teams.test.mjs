// Teams in the portal: the first run creates the admin, people sign in through the form, each
// sees only their team's work on a shared cluster, a viewer is offered no change and a forged
// one is refused, and signing out ends the session on the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { admin, artifacts, callApi, crossSiteAttempt, fixtures, launchBrowser, startServer, until } from './harness.mjs';

let browser, first, shared;
const password = 'a team member password';

before(async () => {
  browser = await launchBrowser();
  first = await startServer([], { bare: true });
  // The shared Wharf serves everything over HTTPS with a certificate of its own making.
  shared = await startServer(['--tls-self-signed']);
  const { base } = shared;
  // People and clusters come from a script; teams, roles and sharing from the portal below.
  for (const user of ['ann', 'dana', 'vic', 'bo']) await callApi(base, 'POST', '/api/v1/users', { username: user, password });
  await callApi(base, 'POST', '/api/v1/clusters', { clusterName: 'shared' });
  await callApi(base, 'POST', '/api/v1/clusters', { clusterName: 'admins-only' });
});

after(async () => {
  await browser?.close();
  first?.process.kill('SIGTERM');
  shared?.process.kill('SIGTERM');
});

/** A fresh browser context signed in through the sign-in form. */
async function signInAs(base, username, secret = password) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  // Refusals the tests provoke show as failed loads; what they say is checked where provoked.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) page.problems.push(`console: ${m.text()}`); });
  await page.goto(`${base}/clusters`);
  await page.waitForURL(/\/login\?next=%2Fclusters/);
  await page.fill('#username', username);
  await page.fill('#password', secret);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/clusters`);
  await page.waitForSelector('body[data-hydrated="true"]');
  return page;
}

/** The session cookie a signed-in page holds. */
async function sessionOf(page) {
  return (await page.context().cookies()).find((c) => c.name === 'wharf_session');
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

test('over HTTPS, an admin creates two teams in the portal, adds their people and shares a cluster with both', async () => {
  const { base } = shared;
  assert.ok(base.startsWith('https://'));
  const page = await signInAs(base, admin.username, admin.password);
  const cookie = await sessionOf(page);
  assert.equal(cookie.secure, true, 'the session cookie is Secure over HTTPS');
  assert.equal(cookie.httpOnly, true);
  await page.click('nav a:has-text("Teams")');
  await page.waitForURL(`${base}/teams`);
  await page.getByText('No teams').waitFor();
  const members = { alpha: [['ann', 'maintainer'], ['dana', 'deployer'], ['vic', 'viewer']], beta: [['bo', 'maintainer']] };
  for (const [team, people] of Object.entries(members)) {
    await page.fill('#team-name', team);
    await page.click('#create-team');
    await page.locator(`#teams a:has-text("${team}")`).waitFor();
    await page.click(`#teams a:has-text("${team}")`);
    await page.waitForURL(`${base}/teams/${team}`);
    for (const [user, role] of people) {
      await page.fill('#member-name', user);
      await page.selectOption('#member-role', role);
      await page.click('#set-member');
      await page.locator(`#members tr:has-text("${user}") td:has-text("${role}")`).waitFor();
    }
    await page.selectOption('#share-cluster-name', 'shared');
    await page.click('#share');
    await page.locator('#team-clusters a:has-text("shared")').waitFor();
    await page.screenshot({ path: join(artifacts, `16-team-${team}.png`), fullPage: true });
    await page.click('nav a:has-text("Teams")');
    await page.waitForURL(`${base}/teams`);
  }
  // A name the rules refuse is answered on the form, naming the field.
  await page.fill('#team-name', 'Not A Team!');
  await page.click('#create-team');
  await page.locator('.field-errors:has-text("teamName")').waitFor();
  const { teams } = await callApi(base, 'GET', '/api/v1/teams');
  assert.deepEqual(teams.map((t) => [t.teamName, t.clusters, t.members.length]), [['alpha', ['shared'], 3], ['beta', ['shared'], 1]]);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('each team\'s maintainer creates its own service in the portal, and a deployer scales it', async () => {
  const { base } = shared;
  const web = JSON.parse(readFileSync(join(fixtures, 'web-nginx.json'), 'utf8'));
  for (const team of ['alpha', 'beta']) await callApi(base, 'POST', `/api/v1/task-definitions?team=${team}`, { ...web, family: `${team}-web` });
  for (const [user, team] of [['ann', 'alpha'], ['bo', 'beta']]) {
    const page = await signInAs(base, user);
    await page.goto(`${base}/clusters/shared/services/new`);
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.locator(`#s-td option[value="${team}-web:1"]`).waitFor({ state: 'attached' });
    const offered = await page.$$eval('#s-td option', (os) => os.map((o) => o.value).filter((v) => v));
    assert.deepEqual(offered, [`${team}-web:1`], 'only the team\'s own revisions are offered');
    await page.fill('#s-name', `${team}-svc`);
    await page.selectOption('#s-td', `${team}-web:1`);
    await page.fill('#s-desired', '0');
    await page.click('#create');
    await page.waitForURL(`${base}/clusters/shared/services/${team}-svc`);
    await page.locator('#service-config').waitFor();
    assert.deepEqual(page.problems, []);
    await page.close();
  }
  const page = await signInAs(base, 'dana');
  await page.goto(`${base}/clusters/shared/services/alpha-svc`);
  await page.waitForSelector('body[data-hydrated="true"]');
  // "Update service" is a page of its own, as in ECS's console; saving returns to the service.
  await page.click('#open-update');
  const service = `${base}/clusters/shared/services/alpha-svc`;
  await page.waitForURL(`${service}/update`);
  await page.waitForSelector('body[data-hydrated="true"]');
  // A submit that lands before the form's handler is attached is the browser's own (a reload);
  // the step is repeated until the change is on the server, then the page must show it.
  await until('dana\'s update to reach the server', 20000, async () => {
    if (page.url() === service) return true;
    await page.fill('#u-desired', '1');
    await page.click('#update-service button[type=submit]');
    await page.waitForTimeout(500);
    return (await callApi(base, 'GET', '/api/v1/clusters/shared/services/alpha-svc')).service.desiredCount === 1;
  });
  await page.waitForURL(service);
  await page.locator('#service-config dd:has-text("1 / 0 /")').waitFor();
  assert.deepEqual(page.problems, []);
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
  assert.equal(await page.locator('#open-settings').count(), 0, 'no way to the cluster\'s settings');
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
  assert.equal(await page.locator('#open-update').count(), 0, 'no way to the update page');
  // Nor by typing the addresses: the update and run-task pages say why instead of the form.
  for (const [path, form] of [['/clusters/shared/services/alpha-svc/update', '#update-service'], ['/clusters/shared/run-task', '#run-task']]) {
    await page.goto(`${base}${path}`);
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.locator('#not-allowed').waitFor();
    assert.equal(await page.locator(form).count(), 0, `no form at ${path}`);
  }
  await page.goto(`${base}/task-definitions/alpha-web/1`);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.getByRole('button', { name: 'Deregister' }).count(), 0, 'no deregister button');
  assert.equal(await page.locator('nav a:has-text("Audit log")').count(), 0, 'no way to an audit log they may not read');
  await page.screenshot({ path: join(artifacts, '15-viewer-read-only.png'), fullPage: true });
  // The same request the update form would send, forged from the viewer's own page.
  const forged = await page.evaluate(async () => {
    const res = await fetch('/api/v1/clusters/shared/services/alpha-svc', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"desiredCount": 5}' });
    return { status: res.status, body: await res.json() };
  });
  assert.equal(forged.status, 403, JSON.stringify(forged));
  assert.match(forged.body.message, /vic is a viewer of team 'alpha'; this needs a deployer/);
  // A script of the page that sends it without the session's CSRF token is refused before any rule.
  const bare = await page.evaluate(() => new Promise((done) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PATCH', '/api/v1/clusters/shared/services/alpha-svc');
    xhr.setRequestHeader('content-type', 'application/json');
    xhr.onload = () => done({ status: xhr.status, body: JSON.parse(xhr.responseText) });
    xhr.send('{"desiredCount": 5}');
  }));
  assert.equal(bare.status, 403, JSON.stringify(bare));
  assert.match(bare.body.message, /CSRF token/);
  const { service } = await callApi(base, 'GET', '/api/v1/clusters/shared/services/alpha-svc');
  assert.equal(service.desiredCount, 1, 'nothing changed');
  const { entries } = await callApi(base, 'GET', '/api/v1/audit?team=alpha');
  assert.ok(entries.some((e) => e.actor === 'vic' && e.action === 'UpdateService' && e.result === 'denied'), 'the refusal is in the audit log');
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('neither team can change the other\'s, a page of another site changes nothing, and the admin finds every attempt in the audit log', async () => {
  const { base } = shared;
  const page = await signInAs(base, 'bo');
  const forged = await page.evaluate(async () => {
    const res = await fetch('/api/v1/clusters/shared/services/alpha-svc', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"desiredCount": 9}' });
    return { status: res.status, body: await res.json() };
  });
  assert.equal(forged.status, 403, JSON.stringify(forged));
  assert.match(forged.body.message, /bo is not a member of team 'alpha'/);
  const read = await page.evaluate(async () => (await fetch('/api/v1/clusters/shared/services/alpha-svc')).status);
  assert.equal(read, 403, 'another team\'s service cannot be read either');
  // Another site's page, open while bo is signed in, tries to create a service in his name.
  const attempt = await crossSiteAttempt(browser, base, (await sessionOf(page)).value, '/api/v1/clusters/shared/services',
    { serviceName: 'evil-svc', taskDefinition: 'beta-web', desiredCount: 1 });
  assert.match(attempt.text, /another site/);
  await attempt.page.close();
  await page.close();
  const { services } = await callApi(base, 'GET', '/api/v1/clusters/shared/services');
  assert.deepEqual(services.map((s) => s.serviceName).sort(), ['alpha-svc', 'beta-svc']);
  const { service } = await callApi(base, 'GET', '/api/v1/clusters/shared/services/alpha-svc');
  assert.equal(service.desiredCount, 1);

  const audit = await signInAs(base, admin.username, admin.password);
  await audit.click('nav a:has-text("Audit log")');
  await audit.waitForURL(`${base}/audit`);
  await audit.selectOption('#audit-result', 'denied');
  await audit.waitForURL(`${base}/audit?result=denied`);
  const rows = async () => audit.$$eval('#audit tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
  await audit.locator('#audit tbody tr').first().waitFor();
  const denied = await rows();
  const has = (actor, action, target) => denied.some((r) => r[1] === actor && r[3] === action && r[4].includes(target) && r[6] === 'denied');
  assert.ok(has('bo', 'UpdateService', 'alpha-svc'), JSON.stringify(denied));
  assert.ok(has('bo', 'DescribeService', 'alpha-svc'), JSON.stringify(denied));
  assert.ok(has('vic', 'UpdateService', 'alpha-svc'), JSON.stringify(denied));
  // The browser withheld bo's SameSite=Strict cookie from the other site's requests, so the
  // refusal is on record without a name.
  assert.ok(has('anonymous', 'RefusedRequest', 'POST /api/v1/clusters/shared/services'), JSON.stringify(denied));
  assert.ok(denied.every((r) => r[6] === 'denied'));
  await audit.screenshot({ path: join(artifacts, '17-audit-denied.png'), fullPage: true });
  // The portal's own changes are there too, and the log exports as JSON lines.
  const lines = (await audit.evaluate(async () => (await fetch('/api/v1/audit?format=jsonl&maxResults=1000')).text())).trim().split('\n').map((l) => JSON.parse(l));
  for (const [actor, action, target] of [['admin', 'CreateTeam', 'alpha'], ['admin', 'SetTeamMember', 'alpha/dana'], ['admin', 'ShareCluster', 'shared/beta'],
    ['ann', 'CreateService', 'alpha-svc'], ['bo', 'CreateService', 'beta-svc'], ['dana', 'UpdateService', 'alpha-svc']]) {
    assert.ok(lines.some((e) => e.actor === actor && e.action === action && e.target.includes(target) && e.result === 'allowed'), `${actor} ${action} ${target}`);
  }
  assert.deepEqual(audit.problems, []);
  await audit.close();
});

test('a maintainer keeps a secret in the portal: the value is typed once and shown to no one, its team\'s viewer sees only its name, the other team nothing', async () => {
  const { base } = shared;
  const value = 'portal-typed-secret-value-7d1c';
  const page = await signInAs(base, 'ann');
  await page.click('nav a:has-text("Secrets")');
  await page.waitForURL(`${base}/secrets`);
  await page.getByText('No secrets').waitFor();
  await page.fill('#secret-name', 'alpha/db-password');
  await page.fill('#secret-description', 'the orders database');
  await page.fill('#secret-value', value);
  await page.click('#create-secret');
  const row = page.locator('#secrets tr[data-secret="alpha/db-password"]');
  await row.waitFor();
  assert.equal(await page.inputValue('#secret-value'), '', 'the typed value is cleared once saved');
  assert.ok(!(await page.content()).includes(value), 'the page holds the value nowhere');
  // A new value replaces it; the version counts.
  await row.locator('input.new-value').fill('second-portal-value');
  await row.locator('button.set-value').click();
  await page.locator('#secrets tr[data-secret="alpha/db-password"] td.num:text-is("2")').waitFor();
  // A bad name is answered on the form, naming the field.
  await page.fill('#secret-name', 'has spaces');
  await page.fill('#secret-value', 'x');
  await page.click('#create-secret');
  await page.locator('.field-errors:has-text("name")').waitFor();
  await page.screenshot({ path: join(artifacts, '18-secrets.png'), fullPage: true });
  assert.deepEqual(page.problems, []);
  await page.close();

  const viewer = await signInAs(base, 'vic');
  await viewer.goto(`${base}/secrets`);
  await viewer.locator('#secrets tr[data-secret="alpha/db-password"]').waitFor();
  await viewer.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await viewer.locator('#secrets button').count(), 0, 'a viewer is offered no change');
  assert.equal(await viewer.locator('#secret-name').count(), 0, 'nor a new secret');
  await viewer.close();
  const other = await signInAs(base, 'bo');
  await other.goto(`${base}/secrets`);
  await other.getByText('No secrets').waitFor();
  const forged = await other.evaluate(async () => (await fetch('/api/v1/secrets/alpha%2Fdb-password/value', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"secretString": "mine now"}' })).status);
  assert.equal(forged, 403);
  await other.close();
  const { secret } = await callApi(base, 'GET', '/api/v1/secrets/alpha%2Fdb-password');
  assert.equal(secret.version, 2, 'the other team\'s forged value did not land');
  assert.ok(!JSON.stringify(secret).includes('second-portal-value'));
});
