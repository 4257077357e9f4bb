-- fault_match.sql - detected faulty-meter episodes against the generator's
-- labels, per kind; run with psql's \i after loading bin/meter-etl-gen's
-- --labels file into a table lab (kind, meter_id, line_no, start_ts,
-- end_ts, detail).  An episode (v_fault, import channel) matches a label of
-- its kind on the same meter overlapping it in time; a label's end_ts is
-- its last faulty slot, so it ends 15 minutes later.  Creates the
-- temporary view fault_match (kind, labelled, detected, detected_true,
-- found): precision is detected_true / detected, recall found / labelled.
-- Used by test/demo_run.sh and test/e2e/e2e_quality.sh.
CREATE TEMP VIEW fault_match AS
WITH kinds(kind) AS (VALUES ('stuck_zero'), ('flatline'), ('level_shift'), ('offline')),
l AS (SELECT kind, meter_id, start_ts, end_ts + interval '15 minutes' AS end_ts FROM lab),
d AS (SELECT kind, meter_id, start_ts, end_ts FROM meter_etl.v_fault WHERE channel = 'import')
SELECT k.kind,
       (SELECT count(*) FROM l WHERE l.kind = k.kind) AS labelled,
       (SELECT count(*) FROM d WHERE d.kind = k.kind) AS detected,
       (SELECT count(*) FROM d WHERE d.kind = k.kind AND EXISTS (
          SELECT 1 FROM l WHERE l.kind = d.kind AND l.meter_id = d.meter_id
             AND l.start_ts < d.end_ts AND l.end_ts > d.start_ts)) AS detected_true,
       (SELECT count(*) FROM l WHERE l.kind = k.kind AND EXISTS (
          SELECT 1 FROM d WHERE d.kind = l.kind AND d.meter_id = l.meter_id
             AND l.start_ts < d.end_ts AND l.end_ts > d.start_ts)) AS found
  FROM kinds k;
