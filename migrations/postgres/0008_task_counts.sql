-- Counts of live tasks (not STOPPED), kept by triggers as tasks are inserted, change status or
-- are deleted, so pages read a cluster's, a deployment's or an instance's counts in a few rows
-- instead of adding up every live task on each view. A task changes status a few times in
-- its life; reports that change only its containers touch no count. Absent keys are ''.
CREATE TABLE task_counts_by_cluster (
    cluster      TEXT NOT NULL,
    last_status  TEXT NOT NULL,
    n            BIGINT NOT NULL,
    cpu          BIGINT NOT NULL,
    memory       BIGINT NOT NULL,
    PRIMARY KEY (cluster, last_status)
);
CREATE TABLE task_counts_by_instance (
    cluster                TEXT NOT NULL,
    container_instance_id  TEXT NOT NULL,
    service_id             TEXT NOT NULL,
    task_group             TEXT NOT NULL,
    last_status            TEXT NOT NULL,
    n                      BIGINT NOT NULL,
    cpu                    BIGINT NOT NULL,
    memory                 BIGINT NOT NULL,
    PRIMARY KEY (cluster, container_instance_id, service_id, task_group, last_status)
);
CREATE TABLE task_counts_by_deployment (
    service_id   TEXT NOT NULL,
    started_by   TEXT NOT NULL,
    last_status  TEXT NOT NULL,
    n            BIGINT NOT NULL,
    PRIMARY KEY (service_id, started_by, last_status)
);

INSERT INTO task_counts_by_cluster
    SELECT cluster, last_status, COUNT(*), SUM(cpu), SUM(memory) FROM tasks WHERE last_status <> 'STOPPED' GROUP BY cluster, last_status;
INSERT INTO task_counts_by_instance
    SELECT cluster, COALESCE(container_instance_id, ''), COALESCE(service_id, ''), COALESCE(task_group, ''), last_status, COUNT(*), SUM(cpu), SUM(memory)
    FROM tasks WHERE last_status <> 'STOPPED' GROUP BY 1, 2, 3, 4, 5;
INSERT INTO task_counts_by_deployment
    SELECT service_id, COALESCE(started_by, ''), last_status, COUNT(*) FROM tasks
    WHERE last_status <> 'STOPPED' AND service_id IS NOT NULL GROUP BY 1, 2, 3;

CREATE FUNCTION task_counts_apply(t tasks, delta BIGINT) RETURNS void AS $$
BEGIN
    IF t.last_status = 'STOPPED' THEN
        RETURN;
    END IF;
    INSERT INTO task_counts_by_cluster VALUES (t.cluster, t.last_status, delta, delta * t.cpu, delta * t.memory)
        ON CONFLICT (cluster, last_status) DO UPDATE
        SET n = task_counts_by_cluster.n + delta, cpu = task_counts_by_cluster.cpu + delta * t.cpu, memory = task_counts_by_cluster.memory + delta * t.memory;
    INSERT INTO task_counts_by_instance VALUES (t.cluster, COALESCE(t.container_instance_id, ''), COALESCE(t.service_id, ''),
            COALESCE(t.task_group, ''), t.last_status, delta, delta * t.cpu, delta * t.memory)
        ON CONFLICT (cluster, container_instance_id, service_id, task_group, last_status) DO UPDATE
        SET n = task_counts_by_instance.n + delta, cpu = task_counts_by_instance.cpu + delta * t.cpu, memory = task_counts_by_instance.memory + delta * t.memory;
    IF t.service_id IS NOT NULL THEN
        INSERT INTO task_counts_by_deployment VALUES (t.service_id, COALESCE(t.started_by, ''), t.last_status, delta)
            ON CONFLICT (service_id, started_by, last_status) DO UPDATE SET n = task_counts_by_deployment.n + delta;
    END IF;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION task_counts_follow() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM task_counts_apply(OLD, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM task_counts_apply(NEW, 1);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER task_counts_add_remove AFTER INSERT OR DELETE ON tasks FOR EACH ROW EXECUTE FUNCTION task_counts_follow();
CREATE TRIGGER task_counts_move AFTER UPDATE OF last_status ON tasks
    FOR EACH ROW WHEN (OLD.last_status IS DISTINCT FROM NEW.last_status) EXECUTE FUNCTION task_counts_follow();
