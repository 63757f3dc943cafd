// The dashboard with real agents (`wharf-agent simulate`: three hosts whose containers take two
// seconds to start, so a rollout can be watched): the cluster's summary strip, a deployment in
// progress with its bar that leaves by itself when done, a task that failed to start, and the
// service's events, all without a reload. Screenshots go to end2end/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { artifacts, callApi, launchBrowser, openPage, simulatedCluster, startServer, until } from './harness.mjs';

const cluster = `e2e-dash-${process.pid}`;
let server, agents, browser, base, port, data;
const api = (method, path, body) => callApi(base, method, path, body);

before(async () => {
  ({ process: server, base, port, data } = await startServer());
  browser = await launchBrowser();
  agents = await simulatedCluster(base, cluster, 3, { simArgs: ['--sim-start-ms', '2500'] });
});

after(async () => {
  await browser?.close();
  agents?.kill('SIGTERM');
  server?.kill('SIGTERM');
});

test('the dashboard shows clusters, a rollout in progress, a failed task and service events, live', async () => {
  const web = (image) => ({ family: 'dash-web', containerDefinitions: [{ name: 'app', image, cpu: 128, memory: 128 }] });
  await api('POST', '/api/v1/task-definitions', web('local/web:1'));
  await api('POST', `/api/v1/clusters/${cluster}/services`, { serviceName: 'web', taskDefinition: 'dash-web:1', desiredCount: 3 });
  await until('3 tasks RUNNING', 30000, async () => (await api('GET', `/api/v1/clusters/${cluster}/topology?detail=instances`)).summary.tasksRunning === 3);

  const page = await openPage(browser, base, '/');
  const row = page.locator(`#dash-clusters .dash-cluster[data-cluster="${cluster}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /3 \(3 connected\)/);
  assert.match(await row.textContent(), /3 running, 0 pending/);
  assert.equal(await row.locator('[role=progressbar][aria-label="CPU reserved"]').getAttribute('aria-valuenow'), '384');
  assert.match(await page.textContent('#dash-rollouts'), /Nothing is rolling out/);
  await page.locator('#live.live-on').waitFor();

  // A new revision rolls out while the page watches.
  await api('POST', '/api/v1/task-definitions', web('local/web:2'));
  await api('PATCH', `/api/v1/clusters/${cluster}/services/web`, { taskDefinition: 'dash-web:2' });
  const rollout = page.locator('#dash-rollouts li', { hasText: `${cluster} / web` });
  await rollout.waitFor({ timeout: 10000 });
  assert.match(await rollout.textContent(), /dash-web:2/);
  const bar = rollout.locator('[role=progressbar]');
  assert.equal(await bar.getAttribute('aria-valuemax'), '3');
  assert.ok(Number(await bar.getAttribute('aria-valuenow')) < 3, 'in progress');
  await page.screenshot({ path: join(artifacts, '17-dashboard-rollout.png'), fullPage: true });
  await rollout.waitFor({ state: 'detached', timeout: 60000 });
  await page.locator('#dash-rollouts').getByText('Nothing is rolling out').waitFor();

  // A one-off task whose container cannot start is listed as failing, with why.
  await api('POST', '/api/v1/task-definitions', { family: 'dash-broken', containerDefinitions: [{ name: 'job', image: 'local/job:fail', cpu: 16, memory: 16 }] });
  const [broken] = (await api('POST', `/api/v1/clusters/${cluster}/tasks`, { taskDefinition: 'dash-broken' })).tasks;
  const brokenId = broken.taskArn.split('/').pop();
  const failed = page.locator('#dash-failed tr', { hasText: brokenId.slice(0, 12) });
  await failed.waitFor({ timeout: 15000 });
  assert.match(await failed.textContent(), /CannotStartContainerError/);
  // A task a user stopped is not a failure.
  const stopped = (await api('GET', `/api/v1/clusters/${cluster}/tasks?serviceName=web&desiredStatus=RUNNING`)).tasks[0].taskArn.split('/').pop();
  await api('POST', `/api/v1/clusters/${cluster}/tasks/${stopped}/stop`, { reason: 'not a failure' });
  await until('the stop recorded', 15000, async () => (await api('GET', `/api/v1/clusters/${cluster}/tasks/${stopped}`)).task.lastStatus === 'STOPPED');
  await page.waitForTimeout(1000);
  assert.equal(await page.locator('#dash-failed tr', { hasText: stopped.slice(0, 12) }).count(), 0);

  assert.match(await page.textContent('#dash-events'), new RegExp(`${cluster} / web`));
  assert.match(await page.textContent('#dash-events'), /deployment .* completed|reached a steady state/);
  assert.equal(await page.locator('#getting-started').count(), 0, 'the getting-started steps leave once done');
  await page.screenshot({ path: join(artifacts, '18-dashboard.png'), fullPage: true });

  // The server goes away: the page says so, and when it is back it catches up by itself.
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  await page.locator('#live.live-off').waitFor({ timeout: 10000 });
  assert.equal(await page.textContent('#live'), 'Offline — reconnecting…');
  ({ process: server } = await startServer([], { port, data }));
  await page.locator('#live.live-on').waitFor({ timeout: 20000 });
  await api('POST', `/api/v1/clusters/${cluster}/services`, { serviceName: 'after-outage', taskDefinition: 'dash-web:2', desiredCount: 1 });
  await page.locator('#dash-events').getByText('(service after-outage) was created').waitFor({ timeout: 10000 });
  // The browser logged the lost connection itself; nothing else went wrong.
  assert.deepEqual(page.problems.filter((p) => !/ERR_CONNECTION_REFUSED|EventSource|Failed to load resource/.test(p)), []);
  await page.close();
});
