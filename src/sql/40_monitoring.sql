
-- ======================================================================
-- Monitoring across the modules (after all of them exist)
-- ======================================================================

CREATE VIEW v_pipeline_health AS
SELECT count(*) FILTER (WHERE f.status = 'staged')                        AS pending,
       count(*) FILTER (WHERE f.status = 'processing')                    AS processing,
       count(*) FILTER (WHERE f.status = 'failed')                        AS failed_awaiting_retry,
       count(*) FILTER (WHERE f.status = 'dead_letter')                   AS dead_letter,
       count(*) FILTER (WHERE f.status = 'ingested')                      AS ingested,
       min(f.received_at) FILTER (WHERE f.status IN ('staged', 'failed')) AS oldest_pending_received_at,
       (SELECT max(finished_at) FROM pipeline_run WHERE status = 'ok')    AS last_success_at,
       (SELECT round(sum(readings_read) / nullif(extract(epoch FROM sum(finished_at - started_at)), 0))
          FROM pipeline_run WHERE status = 'ok' AND finished_at > now() - interval '1 hour') AS readings_per_second_last_hour,
       (SELECT count(*) FROM alert WHERE acknowledged_at IS NULL)        AS open_alerts,
       (SELECT count(*) FROM archive_failure WHERE resolved_at IS NULL)  AS archive_failures_open,
       (SELECT count(*) FROM ingest_run i WHERE i.status = 'ok'
           AND NOT EXISTS (SELECT 1 FROM detect_done d WHERE d.ingest_run_id = i.run_id)) AS detection_pending
  FROM raw_file f;
COMMENT ON VIEW v_pipeline_health IS
  'Pipeline health: files by status, oldest pending, last success, throughput over the last hour, open alerts, archive dead letters, ingests awaiting detection';

