// Browser journey with a real agent: a join token from the portal, wharf-agent on Docker
// joining with it, a task started from the instance's page, its containers, logs and stop.
// Screenshots go to end2end/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifacts, bin, callApi, fixtures, launchBrowser, openPage as open, startServer, until } from './harness.mjs';

const cluster = `e2e-agents-${process.pid}`;
let server, agent, browser, base;

const api = (method, path, body) => callApi(base, method, path, body);

before(async () => {
  ({ process: server, base } = await startServer(['--agent-heartbeat-seconds', '2']));
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

const openPage = (path) => open(browser, base, path);

test('a host joins with the portal\'s command, runs a task started from its page, and stops it', async () => {
  await api('POST', '/api/v1/clusters', { clusterName: cluster });
  const httpd = JSON.parse(readFileSync(join(fixtures, 'busybox-httpd.json'), 'utf8'));
  const c = httpd.containerDefinitions[0];
  // -vv: httpd logs each request's path, so following the log shows lines as they happen.
  c.command[2] = `echo "serving for wharf"; ${c.command[2].replace('httpd -f', 'httpd -f -vv')}`;
  c.stopTimeout = 2;
  await api('POST', '/api/v1/task-definitions', httpd);

  // The cluster page: no instances yet; a join token comes with the command to add a host,
  // and says the zone of the hosts that join with it (placement trusts only that).
  let page = await openPage(`/clusters/${cluster}`);
  await page.getByText('No container instances yet').waitFor();
  assert.match(await page.locator('#trusted-attributes').textContent(), /only from join tokens, not from what hosts say: ecs\.availability-zone/);
  await page.fill('#jt-zone', 'a');
  await page.click('#jt-create');
  const command = (await page.locator('#install-command').textContent()).trim();
  const token = (await page.locator('#new-token').textContent()).trim();
  assert.equal(command, `curl -fsSL ${base}/agent/install.sh | sudo sh -s -- --cluster ${cluster} --token ${token}`);
  await page.locator('#join-token-list .trusted-attribute').getByText('ecs.availability-zone = a').waitFor();
  await page.screenshot({ path: join(artifacts, 'agents-1-join-command.png'), fullPage: true });

  // The host runs the agent with that token (what the install script's unit does); the zone it
  // claims for itself is not what placement goes by.
  const state = mkdtempSync(join(tmpdir(), 'wharf-e2e-agent-'));
  agent = spawn(bin('wharf-agent'), ['--server', base, '--cluster', cluster, '--token', token, '--runtime', 'docker',
    '--state-dir', state, '--zone', 'elsewhere', '--attribute', 'team=web'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const instance = await until('the instance', 30000, async () => {
    const list = await api('GET', `/api/v1/clusters/${cluster}/container-instances`);
    return list.containerInstances.find((i) => i.agentConnected);
  });
  await page.reload();
  await page.waitForSelector('body[data-hydrated="true"]');
  const row = page.locator('#instances tbody tr').first();
  await row.getByText('connected').waitFor();
  assert.match(await row.textContent(), /zone a/);
  assert.match(await row.textContent(), /team=web/);
  await page.screenshot({ path: join(artifacts, 'agents-2-instance-joined.png'), fullPage: true });

  // The instance's page: start the task there.
  await row.locator('a').first().click();
  await page.waitForURL(`**/clusters/${cluster}/instances/${instance.id}`);
  await page.locator('#attributes').getByText('ecs.availability-zone = a').waitFor();
  await page.selectOption('#start-family', 'hello-httpd');
  await page.click('#start-task button[type=submit]');
  await page.locator('#task-started a').click();
  await page.waitForURL(`**/clusters/${cluster}/tasks/**`);

  // The task page shows the container running with its dynamic host port, by itself: it
  // follows the live feed (no Refresh click).
  const taskId = page.url().split('/').pop();
  await until('the task to run', 60000, async () =>
    (await page.locator('#containers tbody tr').first().textContent()).includes('RUNNING'));
  const task = (await api('GET', `/api/v1/clusters/${cluster}/tasks/${taskId}`)).task;
  const port = task.containers[0].networkBindings[0].hostPort;
  assert.match(await page.locator('#containers').textContent(), new RegExp(`${port}→8080/tcp`));
  const served = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  assert.match(served, /^hello from /);

  // Logs through the agent.
  await page.click('#show-logs');
  await page.locator('#log-lines').getByText('serving for wharf').waitFor();
  await page.screenshot({ path: join(artifacts, 'agents-3-task-running.png'), fullPage: true });
  // Another task's changes in the cluster leave this page (and the logs it shows) alone.
  const other = (await api('POST', `/api/v1/clusters/${cluster}/tasks/start`, { taskDefinition: 'hello-httpd', containerInstances: [instance.id] })).tasks[0];
  const otherId = other.taskArn.split('/').pop();
  await until('the other task to run', 60000, async () =>
    (await api('GET', `/api/v1/clusters/${cluster}/tasks/${otherId}`)).task.lastStatus === 'RUNNING');
  await api('POST', `/api/v1/clusters/${cluster}/tasks/${otherId}/stop`, { reason: 'not this one' });
  await until('the other task to stop', 30000, async () =>
    (await api('GET', `/api/v1/clusters/${cluster}/tasks/${otherId}`)).task.lastStatus === 'STOPPED');
  assert.match(await page.locator('#log-lines').textContent(), /serving for wharf/);

  // Follow: the last lines, then each request httpd logs as it serves it, without a click.
  await page.click('#follow-logs');
  await page.locator('#log-following').waitFor();
  assert.equal(await page.getAttribute('#follow-logs', 'aria-pressed'), 'true');
  const marker = `/followed-${Date.now()}`;
  await fetch(`http://127.0.0.1:${port}${marker}`);
  await page.locator('#log-lines').getByText(marker).waitFor({ timeout: 10000 });
  await page.click('#follow-logs');
  assert.equal(await page.getAttribute('#follow-logs', 'aria-pressed'), 'false');
  // Wrap on and off.
  assert.equal(await page.$eval('#log-lines', (p) => getComputedStyle(p).whiteSpace), 'pre-wrap');
  await page.uncheck('#wrap-logs');
  assert.equal(await page.$eval('#log-lines', (p) => getComputedStyle(p).whiteSpace), 'pre');
  // Download: the log as a text file.
  const [file] = await Promise.all([page.waitForEvent('download'), page.click('#download-logs')]);
  assert.equal(file.suggestedFilename(), `${taskId.slice(0, 12)}-httpd.log`);
  const saved = readFileSync(await file.path(), 'utf8');
  assert.match(saved, /serving for wharf/);
  assert.ok(saved.includes(marker), 'the download has the followed request too');
  await page.screenshot({ path: join(artifacts, 'agents-3b-logs-followed.png'), fullPage: true });

  // The relationship diagram with this real Docker host: a service's tasks are drawn inside
  // its instance; stopping one shows without a reload within 2 s, and it leaves once stopped.
  await api('POST', `/api/v1/clusters/${cluster}/services`, { serviceName: 'web', taskDefinition: 'hello-httpd', desiredCount: 2 });
  const serviceTasks = await until('the service\'s 2 tasks to run', 60000, async () => {
    const list = (await api('GET', `/api/v1/clusters/${cluster}/tasks?serviceName=web&desiredStatus=RUNNING`)).tasks;
    return list.length === 2 && list.every((t) => t.lastStatus === 'RUNNING') && list.map((t) => t.taskArn.split('/').pop());
  });
  const diagram = await openPage(`/clusters/${cluster}/diagram`);
  const inInstance = diagram.locator(`#diagram-svg g.instance[data-instance="${instance.id}"] g.task[data-service="web"]`);
  await until('both drawn in the instance', 5000, async () => (await inInstance.count()) === 2);
  assert.deepEqual((await inInstance.evaluateAll((ts) => ts.map((t) => t.dataset.task))).sort(), [...serviceTasks].sort());
  await diagram.locator('#live.live-on').waitFor();
  assert.match(await inInstance.first().locator('title').textContent(), /httpd · local\/busybox:1 · RUNNING/);
  await diagram.screenshot({ path: join(artifacts, 'agents-3c-diagram.png') });
  const victim = serviceTasks[0];
  const victimDrawn = diagram.locator(`#diagram-svg g.task[data-task="${victim}"]`);
  const stopAt = Date.now();
  await api('POST', `/api/v1/clusters/${cluster}/tasks/${victim}/stop`, { reason: 'diagram check' });
  await until('the diagram to show the stop', 2000, async () =>
    (await diagram.locator(`#diagram-svg g.task.stopping[data-task="${victim}"]`).count()) === 1 || (await victimDrawn.count()) === 0);
  console.log(`the diagram showed the stop after ${Date.now() - stopAt} ms`);
  await victimDrawn.waitFor({ state: 'detached', timeout: 30000 });
  assert.deepEqual(diagram.problems, []);
  await diagram.close();
  await api('DELETE', `/api/v1/clusters/${cluster}/services/web?force=true`);
  await until('the service\'s tasks to stop', 60000, async () =>
    (await api('GET', `/api/v1/clusters/${cluster}/tasks?serviceName=web&desiredStatus=RUNNING`)).tasks.length === 0);

  // Stop with a reason, while following the log: the panel keeps its lines and says the log ended.
  await page.click('#follow-logs');
  await page.locator('#log-following').waitFor();
  await page.fill('#stop-reason', 'end of demo');
  await page.click('#stop');
  await until('the task to stop', 30000, async () =>
    (await page.locator('#containers tbody tr').first().textContent()).includes('STOPPED'));
  await page.locator('#log-ended').waitFor({ timeout: 15000 });
  assert.match(await page.locator('#log-lines').textContent(), /serving for wharf/);
  assert.match(await page.locator('#stopped-reason').textContent(), /end of demo/);
  assert.match(await page.locator('#containers tbody tr').first().textContent(), /137/);
  await page.screenshot({ path: join(artifacts, 'agents-4-task-stopped.png'), fullPage: true });

  // Drain the instance from its page.
  await page.goto(`${base}/clusters/${cluster}/instances/${instance.id}`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.click('#drain');
  await page.locator('.detail-head').getByText('DRAINING').waitFor();
  await page.locator('#stopped-tasks').getByText('end of demo').waitFor();
  await page.locator('#start-task').getByText('takes no new tasks').waitFor();
  await page.screenshot({ path: join(artifacts, 'agents-5-instance-draining.png'), fullPage: true });
  assert.deepEqual(page.problems, []);
});
