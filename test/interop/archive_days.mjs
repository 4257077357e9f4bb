// archive_days.mjs - what DuckDB reads from a meter_etl Parquet archive, per
// date: rows, the sum of kw (6 decimals) and the estimated rows, one line
// "date|rows|kw_sum|estimated" per date, in date order.  Used by
// test/e2e/e2e_archive_late.sh to compare the archive with the store.
//
// Usage: node archive_days.mjs DATASET_DIR
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'

const [dir] = process.argv.slice(2)
if (!dir) {
  console.error('usage: node archive_days.mjs DATASET_DIR')
  process.exit(2)
}
const glob = path.join(dir, '**', '*.parquet').replaceAll("'", "''")
const db = await DuckDBInstance.create(':memory:')
const con = await db.connect()
const rows = (await con.runAndReadAll(`
  SELECT strftime(date, '%Y-%m-%d') AS day, count(*)::BIGINT AS n, sum(kw) AS kw_sum,
         count(*) FILTER (WHERE estimated)::BIGINT AS estimated
    FROM read_parquet('${glob}', hive_partitioning = true,
                      hive_types = {'date': 'DATE', 'meter_bucket': 'VARCHAR'})
   GROUP BY ALL ORDER BY day`)).getRowObjects()
for (const r of rows) console.log(`${r.day}|${r.n}|${r.kw_sum.toFixed(6)}|${r.estimated}`)
