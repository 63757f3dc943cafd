/*!
SQL of forgetting: stopped tasks past their retention (ECS keeps them visible for at least an
hour), service events beyond each service's newest few (ECS shows the last 100), and RunTask
client tokens past their day. Each call deletes a bounded batch, so the writer lock is never
held long however much history piled up.
*/

use super::Result;
use sqlx::{AnyConnection, Row};

/// Deletes up to `batch` tasks that stopped before `before`, oldest first; returns how many.
pub async fn delete_stopped_tasks(conn: &mut AnyConnection, before: &str, batch: i64) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM tasks WHERE id IN (
            SELECT id FROM tasks WHERE last_status = 'STOPPED' AND stopped_at < $1 ORDER BY stopped_at LIMIT $2)",
    )
    .bind(before)
    .bind(batch)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Services holding more than `keep` events.
pub async fn services_over_event_cap(conn: &mut AnyConnection, keep: i64) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT service_id FROM service_events GROUP BY service_id HAVING COUNT(*) > $1")
        .bind(keep)
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(|r| Ok(r.try_get("service_id")?)).collect()
}

/// Keeps the service's newest `keep` events; returns how many went.
pub async fn cap_service_events(conn: &mut AnyConnection, service_id: &str, keep: i64) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM service_events WHERE service_id = $1 AND seq < (
            SELECT MIN(seq) FROM (SELECT seq FROM service_events WHERE service_id = $1 ORDER BY seq DESC LIMIT $2) AS newest)",
    )
    .bind(service_id)
    .bind(keep)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Drops the kept counts that came down to zero (instances and deployments long gone).
pub async fn delete_zero_counts(conn: &mut AnyConnection) -> Result<()> {
    for table in ["task_counts_by_cluster", "task_counts_by_instance", "task_counts_by_deployment"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE n = 0")).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Forgets client tokens issued before `before`.
pub async fn delete_run_tokens(conn: &mut AnyConnection, before: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM run_task_tokens WHERE created_at < $1").bind(before).execute(conn).await?.rows_affected())
}

/// Forgets services' and instances' metric samples taken before `before` (unix seconds), at most `span` seconds of the
/// oldest at a time; returns how many went.
pub async fn delete_metric_samples(conn: &mut AnyConnection, before: i64, span: i64) -> Result<u64> {
    let mut gone = 0;
    for table in ["service_metrics", "instance_metrics"] {
        gone += sqlx::query(&format!("DELETE FROM {table} WHERE at < $1 AND at < (SELECT MIN(at) FROM {table}) + $2"))
            .bind(before)
            .bind(span)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(gone)
}

/// Keeps the service's newest `keep` scaling activities.
pub async fn cap_scaling_activities(conn: &mut AnyConnection, keep: i64) -> Result<u64> {
    let over = sqlx::query("SELECT service_id FROM scaling_activities GROUP BY service_id HAVING COUNT(*) > $1").bind(keep).fetch_all(&mut *conn).await?;
    let mut gone = 0;
    for row in over {
        let service_id: String = row.try_get("service_id")?;
        gone += sqlx::query(
            "DELETE FROM scaling_activities WHERE service_id = $1 AND seq < (
                SELECT MIN(seq) FROM (SELECT seq FROM scaling_activities WHERE service_id = $1 ORDER BY seq DESC LIMIT $2) AS newest)",
        )
        .bind(&service_id)
        .bind(keep)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(gone)
}
