// Load balancing in the portal, with a real agent on Docker: a target group and a listener
// made in the portal, a service created with them, its targets turning healthy live on its
// page, the listener's address answered by a task, and a deployment's new targets turning
// healthy without a reload. Screenshots go to end2end/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifacts, bin, callApi, fixtures, launchBrowser, openPage as open, startServer, until } from './harness.mjs';

const cluster = `e2e-lb-${process.pid}`;
let server, agent, browser, base;

const api = (method, path, body) => callApi(base, method, path, body);
// A request with its own Host header (fetch may not set one).
const statusFor = (port, host) => new Promise((resolve, reject) => {
  httpGet({ host: '127.0.0.1', port, path: '/', headers: { Host: host } }, (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
});
const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

before(async () => {
  ({ process: server, base } = await startServer(['--agent-heartbeat-seconds', '2', '--scheduler-interval-seconds', '1']));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  agent?.kill('SIGTERM');
  server?.kill('SIGTERM');
  try {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=wharf.cluster=${cluster}`]).toString().split('\n').filter(Boolean);
    if (ids.length) execFileSync('docker', ['rm', '-f', ...ids]);
  } catch {}
});

test('a newcomer puts a service behind a listener in the portal and watches its targets turn healthy, live', async () => {
  await api('POST', '/api/v1/clusters', { clusterName: cluster });
  const { token } = await api('POST', `/api/v1/clusters/${cluster}/join-tokens`, {});
  agent = spawn(bin('wharf-agent'), ['--server', base, '--cluster', cluster, '--token', token, '--runtime', 'docker',
    '--state-dir', mkdtempSync(join(tmpdir(), 'wharf-e2e-lb-'))], { stdio: ['ignore', 'inherit', 'inherit'] });
  await until('the instance', 30000, async () =>
    (await api('GET', `/api/v1/clusters/${cluster}/container-instances`)).containerInstances.some((i) => i.agentConnected));
  const httpd = JSON.parse(readFileSync(join(fixtures, 'busybox-httpd.json'), 'utf8'));
  httpd.containerDefinitions[0].stopTimeout = 2;
  await api('POST', '/api/v1/task-definitions', httpd);

  // The cluster's load balancing page: a target group, then a listener forwarding to it.
  const page = await open(browser, base, `/clusters/${cluster}`);
  await page.click('#open-load-balancing');
  await page.waitForURL(`**/clusters/${cluster}/load-balancing`);
  await page.getByText('No target groups').waitFor();
  await page.fill('#tg-name', 'web');
  await page.fill('#tg-interval', '2');
  await page.fill('#tg-healthy', '2');
  await page.fill('#tg-delay', '5');
  await page.click('#create-target-group');
  await page.locator('#target-groups tr[data-target-group="web"]').waitFor();
  const port = await freePort();
  await page.fill('#l-port', String(port));
  await page.selectOption('#l-default', { label: 'web' });
  await page.click('#create-listener');
  // It says ACTIVE once the server has bound the port (a live update, no reload).
  await page.locator(`#listeners tr[data-port="${port}"]`).getByText('ACTIVE').waitFor({ timeout: 15000 });
  await page.screenshot({ path: join(artifacts, 'load-balancing-1-listener.png'), fullPage: true });

  // A service with two tasks behind it, from the create form.
  await page.goto(`${base}/clusters/${cluster}/services/new`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('#s-name', 'web');
  await page.selectOption('#s-td', 'hello-httpd:1');
  await page.fill('#s-desired', '2');
  await page.selectOption('#s-target-group', { label: 'web' });
  await page.fill('#s-lb-container', 'httpd');
  await page.fill('#s-lb-port', '8080');
  await page.click('#create');
  await page.waitForURL(`**/clusters/${cluster}/services/web`);
  await page.evaluate(() => { window.stillTheSamePage = true; });

  // Its page names the listener's address and shows the targets turning healthy, live.
  const url = `http://127.0.0.1:${port}/`;
  await page.locator('#listener-urls a', { hasText: url }).waitFor();
  await page.locator('#targets tr[data-state="healthy"]').nth(1).waitFor({ timeout: 90000 });
  assert.equal(await page.locator('#targets tbody tr').count(), 2);
  await page.screenshot({ path: join(artifacts, 'load-balancing-2-targets-healthy.png'), fullPage: true });

  // The address answers from a task.
  const answer = await (await fetch(url)).text();
  assert.match(answer, /^hello from [0-9a-f]{12}/);
  const opened = await browser.newPage();
  await opened.goto(url);
  assert.match(await opened.textContent('body'), /hello from/);
  await opened.close();

  // A deployment: the new tasks join as targets and turn healthy on the same page.
  const before = await page.locator('#targets tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.task));
  httpd.containerDefinitions[0].environment = [{ name: 'REVISION', value: '2' }];
  await api('POST', '/api/v1/task-definitions', httpd);
  await api('PATCH', `/api/v1/clusters/${cluster}/services/web`, { taskDefinition: 'hello-httpd:2' });
  await until('two new healthy targets and none of the old', 120000, async () => {
    const rows = await page.locator('#targets tbody tr').evaluateAll((rs) => rs.map((r) => [r.dataset.task, r.dataset.state]));
    const fresh = rows.filter(([task, state]) => !before.includes(task) && state === 'healthy');
    return fresh.length === 2 && rows.every(([task]) => !before.includes(task));
  });
  assert.equal(await page.evaluate(() => window.stillTheSamePage), true, 'followed live, not reloaded');
  await page.screenshot({ path: join(artifacts, 'load-balancing-3-after-deployment.png'), fullPage: true });
  assert.deepEqual(page.problems, []);

  // The diagram counts what the listener sent each task.
  for (let i = 0; i < 20; i += 1) assert.equal((await fetch(url)).status, 200);
  const diagram = await open(browser, base, `/clusters/${cluster}/diagram`);
  await diagram.locator('#diagram-svg g.task[data-requests]').first().waitFor();
  const counts = await diagram.locator('#diagram-svg g.task[data-requests]').evaluateAll((gs) => gs.map((g) => Number(g.dataset.requests)));
  assert.equal(counts.length, 2, `both tasks are targets: ${counts}`);
  assert.ok(counts.reduce((a, b) => a + b, 0) >= 20, `the 20 requests are counted: ${counts}`);
  assert.match(await diagram.locator('#diagram-svg g.task[data-requests] title').first().textContent(), /\d+ requests from the load balancer/);
  await diagram.screenshot({ path: join(artifacts, 'load-balancing-4-diagram.png'), fullPage: true });
  assert.deepEqual(diagram.problems, []);

  // Rules from the portal: one host to an empty target group answers 503 while the rule
  // stands, and the default again once it is deleted. The listener's port links its address.
  await api('POST', `/api/v1/clusters/${cluster}/target-groups`, { targetGroupName: 'spare' });
  const lb = await open(browser, base, `/clusters/${cluster}/load-balancing`);
  assert.equal(await lb.locator(`#listeners tr[data-port="${port}"] a.listener-url`).getAttribute('href'), url);
  await lb.getByText('No rules').waitFor();
  await lb.selectOption('#rule-port', String(port));
  await lb.fill('#rule-priority', '10');
  await lb.fill('#rule-hosts', 'spare.example');
  await lb.selectOption('#rule-group', { label: 'spare' });
  await lb.click('#create-rule');
  const rule = lb.locator(`#rules tr[data-rule="${port}/10"]`);
  await rule.waitFor();
  assert.match(await rule.textContent(), /spare\.example.*any.*spare/);
  await until('the rule to route', 15000, async () => (await statusFor(port, 'spare.example')) === 503);
  assert.equal(await statusFor(port, 'other.example'), 200);
  await lb.screenshot({ path: join(artifacts, 'load-balancing-5-rules.png'), fullPage: true });
  await lb.getByRole('button', { name: `Delete rule 10 of listener ${port}` }).click();
  await lb.getByText('No rules').waitFor();
  await until('the rule to be gone from the listener', 15000, async () => (await statusFor(port, 'spare.example')) === 200);
  assert.deepEqual(lb.problems, []);

  // The update page shows the service's load balancer and takes it away.
  const edit = await open(browser, base, `/clusters/${cluster}/services/web/update`);
  await until('the current target group to be chosen', 15000, async () =>
    (await edit.locator('#s-target-group option:checked').textContent()) === 'web');
  assert.equal(await edit.inputValue('#s-lb-container'), 'httpd');
  assert.equal(await edit.inputValue('#s-lb-port'), '8080');
  await edit.selectOption('#s-target-group', '');
  await edit.screenshot({ path: join(artifacts, 'load-balancing-6-update.png'), fullPage: true });
  await edit.locator('#update-service button[type="submit"]').click();
  await edit.waitForURL(`**/clusters/${cluster}/services/web`);
  await edit.locator('#deployments').waitFor();
  assert.equal(await edit.locator('#load-balancing').count(), 0, 'no load balancing card without load balancers');
  assert.deepEqual((await api('GET', `/api/v1/clusters/${cluster}/services/web`)).service.loadBalancers ?? [], []);
  assert.deepEqual(edit.problems, []);
});
