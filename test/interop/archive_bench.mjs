// archive_bench.mjs - the DuckDB side of test/bench/bench_archive.sh: writes the
// same readings from the same CSV to Parquet with ZSTD, and prints one line
// per variant: name, median seconds of RUNS runs, rows, bytes.
//
// Usage: node archive_bench.mjs CSV OUTDIR [RUNS]
import fs from 'node:fs'
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'

const [csv, out, runsArg] = process.argv.slice(2)
if (!csv || !out) {
  console.error('usage: node archive_bench.mjs CSV OUTDIR [RUNS]')
  process.exit(2)
}
const runs = Number(runsArg || 3)
const lit = s => `'${s.replaceAll("'", "''")}'`

// The archive's columns computed from the generator's CSV
// (meter_id,timestamp,value,unit; W or kW), in file order; line_no is NULL
// as in archive_parquet's default, or the CSV line number; method is NULL
// (the benchmark's fleet has no estimates).
const sameColumns = lineNo => `
  SELECT meter_id, 'import' AS channel, "timestamp" AS ts,
         CASE unit WHEN 'W' THEN value / 1000 ELSE value END AS kw,
         0::SMALLINT AS quality_flags, false AS estimated, 1::INTEGER AS file_id,
         ${lineNo} AS line_no, NULL::VARCHAR AS method
    FROM read_csv(${lit(csv)}, header = true,
                  columns = {'meter_id': 'VARCHAR', 'timestamp': 'TIMESTAMPTZ',
                             'value': 'DOUBLE', 'unit': 'VARCHAR'})`
const variants = [
  ['duckdb, same 9 columns', sameColumns('NULL::INTEGER')],
  ['duckdb, same 9 columns with line numbers', sameColumns('(row_number() OVER () + 1)::INTEGER')],
  ['duckdb, the CSV columns as read (4)', `SELECT * FROM read_csv(${lit(csv)}, header = true)`],
]

const db = await DuckDBInstance.create(':memory:')
const con = await db.connect()
for (const threads of [0, 1]) {
  if (threads) await con.run(`SET threads = ${threads}`)
  for (const [name, sql] of variants) {
    const file = path.join(out, `duck_${threads}_${variants.findIndex(v => v[0] === name)}.parquet`)
    const times = []
    for (let i = 0; i < runs; i++) {
      fs.rmSync(file, { force: true })
      const t0 = process.hrtime.bigint()
      await con.run(`COPY (${sql}) TO ${lit(file)} (FORMAT parquet, COMPRESSION zstd)`)
      times.push(Number(process.hrtime.bigint() - t0) / 1e9)
    }
    times.sort((a, b) => a - b)
    const rows = (await con.runAndReadAll(`SELECT count(*) FROM read_parquet(${lit(file)})`)).getRows()[0][0]
    const label = threads ? `${name}, 1 thread` : name
    console.log([label, times[Math.floor(times.length / 2)].toFixed(3), rows, fs.statSync(file).size].join('\t'))
  }
}
