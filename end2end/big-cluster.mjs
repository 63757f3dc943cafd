// A large cluster for the scale test and the diagram benchmark: `wharf-agent simulate` joins
// `instances` hosts over real WebSockets, then three services share `tasks` tasks. Resolves to
// the simulator's process once every task is RUNNING.
export async function bigCluster({ base, cluster, api, bin, until, instances, tasks, stateDir, spawn }) {
  await api('POST', '/api/v1/clusters', { clusterName: cluster });
  const { token } = await api('POST', `/api/v1/clusters/${cluster}/join-tokens`, {});
  const agents = spawn(bin('wharf-agent'), ['--state-dir', stateDir, '--server', base, '--cluster', cluster, '--token', token,
    '--usage-seconds', '5', 'simulate', '--count', String(instances)], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  await until(`${instances} simulated instances`, 180000, async () =>
    (await api('GET', `/api/v1/clusters/${cluster}/topology?detail=instances`)).summary.connected === instances);
  const services = [['web', 256, 512, 0.4], ['api', 128, 256, 0.35], ['worker', 64, 128, 0.25]];
  let left = tasks;
  for (const [n, [name, cpu, memory, share]] of services.entries()) {
    await api('POST', '/api/v1/task-definitions', { family: name, containerDefinitions: [
      { name: 'app', image: `local/${name}:1`, cpu, memory, portMappings: [{ containerPort: 8080 }] },
      { name: 'log', image: 'local/log:1', cpu: 16, memory: 32 }] });
    const count = n === services.length - 1 ? left : Math.round(tasks * share);
    left -= count;
    await api('POST', `/api/v1/clusters/${cluster}/services`, { serviceName: name, taskDefinition: name, desiredCount: count });
  }
  await until(`${tasks} tasks RUNNING`, 300000, async () =>
    (await api('GET', `/api/v1/clusters/${cluster}/topology?detail=instances`)).summary.tasksRunning === tasks);
  return agents;
}
