// The dashboard with real agents (`wharf-agent simulate`: three hosts whose containers take two
// seconds to start, so a rollout can be watched): the cluster's summary strip, a deployment in
// progress with its bar that leaves by itself when done, a task that failed to start, and the
// service's events, all without a reload. Screenshots go to end2end/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifacts, bin, callApi, launchBrowser, openPage, startServer, until } from './harness.mjs';

const cluster = `e2e-dash-${process.pid}`;
let server, agents, browser, base;
const api = (method, path, body) => callApi(base, method, path, body);

before(async () => {
  ({ process: server, base } = await startServer());
  browser = await launchBrowser();
  await api('POST', '/api/v1/clusters', { clusterName: cluster });
  const { token } = await api('POST', `/api/v1/clusters/${cluster}/join-tokens`, {});
  agents = spawn(bin('wharf-agent'), ['--state-dir', mkdtempSync(join(tmpdir(), 'wharf-e2e-dash-')), '--server', base, '--cluster', cluster,
    '--token', token, 'simulate', '--count', '3', '--sim-start-ms', '2500'], { stdio: ['ignore', 'inherit', 'inherit'] });
  await until('three simulated instances', 30000, async () =>
    (await api('GET', `/api/v1/clusters/${cluster}/topology?detail=instances`)).summary.connected === 3);
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
  assert.deepEqual(page.problems, []);
  await page.close();
});
