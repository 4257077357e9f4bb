# The series the forecast comparison runs on (sourced after compare.sh, on a
# running server with meter_etl created): the real households in
# $REAL (test/lib_real.sh) ingested through meter_etl (LCL London, ESB
# Ireland, the NEM12 export, Pecan Street, the UCI house resampled to 15
# minutes) and a generated fleet of household archetypes with its fleet
# total.  fill_forecast_series DIR DAYS fills public.cmp_series with the
# last DAYS days of each import series.
fill_forecast_series() {
  local dir=$1 days=$2 f
  for f in "$REAL"/lcl_london_halfhourly/*.csv "$REAL"/esb_ireland_hdf/*.csv \
           "$REAL"/au_vic_meter_exports/*NEM12*.csv "$REAL"/pecan_austin_15min/*.csv \
           "$REAL"/uci_household_power/*.txt; do
    [ -f "$f" ] || continue
    cmp_q "SELECT status FROM meter_etl.ingest(meter_etl.stage('$(basename "$f")', pg_read_binary_file('$f')))" >/dev/null
  done
  # the generated fleet: 30 meters, 10 weeks at 30 minutes, no faults
  bin/meter-etl-gen --meters 30 --days 70 --start 2024-01-01 --interval 30 --seed 21 --archetypes --faults none \
    --units power --meter-prefix G --out "$dir/gen.csv" 2>/dev/null
  chmod 644 "$dir/gen.csv"
  bin/meter-etl-load --ingest "$dir/gen.csv" >/dev/null
  cmp_q "UPDATE meter_etl.meter SET interval_s = 1800 WHERE meter_id LIKE 'G%'" >/dev/null
  cmp_q "CREATE TABLE public.cmp_series AS
    WITH r AS (
      SELECT m.meter_id, coalesce(m.time_zone, 'UTC') AS tz, m.interval_s, r.ts, r.kw
        FROM meter_etl.reading r JOIN meter_etl.meter m USING (meter_key) JOIN meter_etl.channel c USING (channel_id)
       WHERE c.name = 'import' AND m.interval_s >= 900),
    minute AS (   -- the UCI house reads every minute: its 15-minute means
      SELECT m.meter_id, coalesce(m.time_zone, 'UTC') AS tz, 900 AS interval_s,
             date_bin('15 minutes', r.ts, timestamptz '2000-01-01') AS ts, avg(r.kw) AS kw
        FROM meter_etl.reading r JOIN meter_etl.meter m USING (meter_key) JOIN meter_etl.channel c USING (channel_id)
       WHERE c.name = 'import' AND m.interval_s < 900 GROUP BY 1, 2, 3, 4),
    fleet AS (    -- the generated fleet's total, at the times every meter read
      SELECT 'fleet (30 generated)' AS meter_id, min(tz) AS tz, 1800 AS interval_s, ts, sum(kw) AS kw
        FROM r WHERE meter_id LIKE 'G%' GROUP BY ts HAVING count(*) = 30),
    s AS (SELECT * FROM r UNION ALL SELECT * FROM minute UNION ALL SELECT * FROM fleet)
    SELECT s.meter_id AS series, s.tz, s.interval_s AS step_s, s.ts, s.kw
      FROM s JOIN (SELECT meter_id, max(ts) AS last FROM s GROUP BY 1) l USING (meter_id)
     WHERE s.ts > l.last - interval '$days days'" >/dev/null
  cmp_q "SELECT series || ' ' || tz || ' ' || step_s || ' s ' || count(*) || ' readings ' || min(ts)::date || '..' || max(ts)::date
           FROM public.cmp_series GROUP BY series, tz, step_s ORDER BY 1" | sed 's/^/   /'
}
