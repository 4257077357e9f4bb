// archive_check.mjs - reads meter_etl's Parquet archive (archive_parquet) with
// DuckDB and with hyparquet and compares it with what PostgreSQL exported:
// schema and types, row-for-row equality, sort order, hive partition keys,
// footer statistics, key/value metadata, the manifest (sizes, SHA-256), and
// that a date filter skips the other dates' files.  Exits non-zero on any
// mismatch.  Used by test/e2e/e2e_archive.sh.
//
// Usage: node archive_check.mjs ROOT EXPECT_DIR
//   ROOT        meter_etl.archive_dir
//   EXPECT_DIR  config.json     {datasets: [{name, layout, line_numbers, row_group_rows}], filter_day,
//                                allow_tmp}
//               rows_<name>.jsonl      one object per reading or estimate, as PostgreSQL has it
//               manifest.jsonl         meter_etl.archive_manifest
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { parquetMetadata, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'

const [root, expectDir] = process.argv.slice(2)
if (!root || !expectDir) {
  console.error('usage: node archive_check.mjs ROOT EXPECT_DIR')
  process.exit(2)
}
const config = JSON.parse(fs.readFileSync(path.join(expectDir, 'config.json'), 'utf8'))
const jsonl = f => fs.readFileSync(path.join(expectDir, f), 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l))
const manifest = jsonl('manifest.jsonl')

let failures = 0
let checks = 0
let current = ''
function check (cond, msg) {
  checks++
  if (!cond) {
    failures++
    if (failures <= 40) console.error(`FAIL ${current}: ${msg}`)
  }
  return cond
}
const lit = s => `'${s.replaceAll("'", "''")}'`
const byteCmp = (a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))

// Every file below dir, relative to root.
function walk (dir) {
  const out = []
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...walk(p))
    else out.push(path.relative(root, p))
  }
  return out
}

// One canonical string per row, for multiset comparison.
function canon (r) {
  return JSON.stringify([r.meter_id, r.channel, String(r.ts_us), r.kw, r.quality_flags, r.estimated,
    r.file_id, r.line_no, r.method, r.date, r.part])
}

const db = await DuckDBInstance.create(':memory:')
const con = await db.connect()
const objects = async sql => (await con.runAndReadAll(sql)).getRowObjects()

const duckTypes = {
  meter_id: 'VARCHAR', channel: 'VARCHAR', ts: 'TIMESTAMP WITH TIME ZONE', kw: 'DOUBLE',
  quality_flags: 'SMALLINT', estimated: 'BOOLEAN', file_id: 'INTEGER', line_no: 'INTEGER', method: 'VARCHAR',
  date: 'DATE',
}

for (const ds of config.datasets) {
  current = `dataset ${ds.name}`
  const key = ds.layout
  const dir = path.join(root, ds.name)
  const glob = path.join(dir, '**', '*.parquet')
  const hive = `hive_partitioning = true, hive_types = {'date': 'DATE', '${key}': 'VARCHAR'}`
  const expected = jsonl(`rows_${ds.name}.jsonl`)
  const files = manifest.filter(m => m.dataset === ds.name)

  // the directory holds exactly the manifest's files (a crash may leave .tmp files)
  const onDisk = walk(dir).sort()
  const listed = files.map(m => m.path).sort()
  const parquetOnDisk = onDisk.filter(f => f.endsWith('.parquet'))
  check(JSON.stringify(parquetOnDisk) === JSON.stringify(listed),
    `files on disk ${parquetOnDisk.length} != manifest ${listed.length}`)
  const other = onDisk.filter(f => !f.endsWith('.parquet'))
  check(config.allow_tmp ? other.every(f => f.endsWith('.parquet.tmp')) : other.length === 0,
    `unexpected files: ${other.join(', ')}`)

  // schema: columns and types, the hive keys as columns, the partition key not stored twice
  const desc = await objects(`DESCRIBE SELECT * FROM read_parquet(${lit(glob)}, ${hive})`)
  const want = ['meter_id', 'channel', 'ts', 'kw', 'quality_flags', 'estimated', 'file_id', 'line_no', 'method']
    .filter(c => !(key === 'meter_id' && c === 'meter_id')).concat(['date', key])
  check(JSON.stringify(desc.map(d => d.column_name)) === JSON.stringify(want),
    `columns ${desc.map(d => d.column_name).join(',')}`)
  for (const d of desc) {
    check(d.column_type === (duckTypes[d.column_name] ?? 'VARCHAR'), `type of ${d.column_name}: ${d.column_type}`)
  }

  // every row, equal to PostgreSQL's, each with the right hive keys
  const rows = await objects(`
    SELECT meter_id, channel, epoch_us(ts)::VARCHAR AS ts_us, kw, quality_flags, estimated,
           file_id, line_no, method, strftime(date, '%Y-%m-%d') AS date, ${key} AS part, filename, file_row_number,
           strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d') AS utc_day
      FROM read_parquet(${lit(glob)}, ${hive}, filename = true, file_row_number = true)
     ORDER BY filename, file_row_number`)
  check(rows.length === expected.length, `DuckDB read ${rows.length} rows, PostgreSQL has ${expected.length}`)
  const got = rows.map(r => canon({ ...r, quality_flags: Number(r.quality_flags), file_row_number: undefined })).sort()
  const exp = expected.map(r => canon(r)).sort()
  let bad = 0
  for (let i = 0; i < Math.max(got.length, exp.length); i++) {
    if (got[i] !== exp[i] && bad++ < 3) check(false, `row differs:\n  duckdb   ${got[i]}\n  postgres ${exp[i]}`)
  }
  check(bad === 0, `${bad} rows differ`)
  check(rows.every(r => r.date === r.utc_day), 'date= key differs from the UTC date of ts')
  if (key === 'meter_id') {
    check(rows.every(r => path.dirname(path.relative(root, r.filename)).endsWith(
      `meter_id=${r.part.replace(/[^A-Za-z0-9._-]/gu, c => [...Buffer.from(c, 'utf8')].map(b => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join(''))}`)),
    'meter_id= directory is not the escaped id')
  }

  // sorted by meter (bytewise) then time, within each file
  let unsorted = 0
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]; const b = rows[i]
    if (a.filename !== b.filename) continue
    const c = byteCmp(a.meter_id, b.meter_id)
    if (c > 0 || (c === 0 && a.channel === b.channel && BigInt(a.ts_us) >= BigInt(b.ts_us))) unsorted++
  }
  check(unsorted === 0, `${unsorted} rows out of (meter_id, ts) order`)

  // footer statistics and row groups against the manifest and the rows
  const meta = await objects(`
    SELECT file_name, row_group_id, row_group_num_rows, path_in_schema, stats_min_value, stats_max_value,
           stats_null_count, num_values, compression
      FROM parquet_metadata(${lit(glob)})`)
  for (const m of files) {
    current = `${ds.name}: ${m.path}`
    const abs = path.join(root, m.path)
    const fm = meta.filter(x => x.file_name === abs)
    const fileRows = rows.filter(r => r.filename === abs)
    const ts = fm.filter(x => x.path_in_schema === 'ts')
    const nrg = ts.length
    check(ts.reduce((s, x) => s + Number(x.row_group_num_rows), 0) === Number(m.rows), `rows ${m.rows} != footer`)
    check(fileRows.length === Number(m.rows), `read ${fileRows.length} rows, manifest says ${m.rows}`)
    check(nrg === Math.ceil(Number(m.rows) / ds.row_group_rows), `${nrg} row groups for ${m.rows} rows`)
    check(fm.every(x => x.compression === ds.compression), `compression ${[...new Set(fm.map(x => x.compression))]}`)
    const tsMin = await objects(`SELECT epoch_us(${lit(ts.map(x => x.stats_min_value).sort()[0])}::TIMESTAMPTZ)::VARCHAR AS v`)
    const tsMax = await objects(`SELECT epoch_us(${lit(ts.map(x => x.stats_max_value).sort().at(-1))}::TIMESTAMPTZ)::VARCHAR AS v`)
    check(tsMin[0].v === m.min_ts_us && tsMax[0].v === m.max_ts_us,
      `ts statistics ${tsMin[0].v}..${tsMax[0].v}, manifest ${m.min_ts_us}..${m.max_ts_us}`)
    // per row group: meter_id bounds (bytewise), kw bounds, line_no nulls
    let offset = 0
    for (const g of ts.map(x => Number(x.row_group_id)).sort((a, b) => a - b)) {
      const cols = fm.filter(x => Number(x.row_group_id) === g)
      const n = Number(cols[0].row_group_num_rows)
      const slice = fileRows.slice(offset, offset + n)
      offset += n
      if (key === 'meter_bucket') {
        const mc = cols.find(x => x.path_in_schema === 'meter_id')
        const ids = slice.map(r => r.meter_id).sort(byteCmp)
        check(mc.stats_min_value === ids[0] && mc.stats_max_value === ids.at(-1),
          `rg ${g} meter_id statistics ${mc.stats_min_value}..${mc.stats_max_value}, rows ${ids[0]}..${ids.at(-1)}`)
      }
      const kc = cols.find(x => x.path_in_schema === 'kw')
      const kws = slice.map(r => r.kw)
      const kmin = kws.reduce((a, b) => Math.min(a, b))
      const kmax = kws.reduce((a, b) => Math.max(a, b))
      check(Number(kc.stats_min_value) === kmin && Number(kc.stats_max_value) === kmax,
        `rg ${g} kw statistics ${kc.stats_min_value}..${kc.stats_max_value}`)
      const lc = cols.find(x => x.path_in_schema === 'line_no')
      check(Number(lc.stats_null_count) === slice.filter(r => r.line_no === null).length,
        `rg ${g} line_no null_count ${lc.stats_null_count}`)
    }

    // the manifest's size and hash are the file's
    const bytes = fs.readFileSync(abs)
    check(bytes.length === Number(m.bytes), `size ${bytes.length} != manifest ${m.bytes}`)
    check(crypto.createHash('sha256').update(bytes).digest('hex') === m.sha256, 'sha256 differs from the manifest')

    // hyparquet: an independent reader sees the same rows and metadata
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
    const md = parquetMetadata(ab)
    const kv = Object.fromEntries((md.key_value_metadata || []).map(e => [e.key, e.value]))
    check(kv['meter_etl.schema_version'] === '2', `schema_version ${kv['meter_etl.schema_version']}`)
    check(kv['meter_etl.export_id'] === String(m.export_id), `export_id ${kv['meter_etl.export_id']} != ${m.export_id}`)
    check(kv['meter_etl.partition'] === path.dirname(m.path).split('/').slice(-2).join('/'), `partition ${kv['meter_etl.partition']}`)
    check(kv['meter_etl.line_numbers'] === String(ds.line_numbers), `line_numbers ${kv['meter_etl.line_numbers']}`)
    const tsEl = md.schema.find(e => e.name === 'ts')
    check(tsEl.logical_type?.type === 'TIMESTAMP' && tsEl.logical_type.isAdjustedToUTC === true &&
      tsEl.logical_type.unit === 'MICROS', `hyparquet ts logical type ${JSON.stringify(tsEl.logical_type)}`)
    const hrows = await parquetReadObjects({ file: ab, compressors, parsers: { timestampFromMicroseconds: v => v } })
    check(hrows.length === fileRows.length, `hyparquet read ${hrows.length} rows`)
    let hbad = 0
    for (let i = 0; i < Math.min(hrows.length, fileRows.length); i++) {
      const h = hrows[i]; const d = fileRows[i]
      const same = (key === 'meter_id' || h.meter_id === d.meter_id) && h.channel === d.channel &&
        String(h.ts) === d.ts_us && Object.is(h.kw, d.kw) && h.quality_flags === Number(d.quality_flags) &&
        h.estimated === d.estimated && (h.file_id ?? null) === d.file_id && (h.line_no ?? null) === d.line_no &&
        (h.method ?? null) === d.method
      if (!same && hbad++ < 3) check(false, `hyparquet row ${i}: ${JSON.stringify(h, (k, v) => typeof v === 'bigint' ? String(v) : v)}`)
    }
    check(hbad === 0, `hyparquet: ${hbad} rows differ`)
  }

  // a filter on the date key reads only that date's files
  current = `dataset ${ds.name}`
  const dayFiles = files.filter(m => m.day === config.filter_day).length
  const plan = (await (await con.runAndReadAll(`EXPLAIN ANALYZE SELECT count(*) FROM read_parquet(${lit(glob)}, ${hive})
      WHERE date = DATE ${lit(config.filter_day)}`)).getRows()).map(r => r.join('\n')).join('\n')
  const read = Number((plan.match(/Total Files Read: (\d+)/) || [])[1])
  check(dayFiles > 0 && read === dayFiles, `date filter read ${read} files, the date has ${dayFiles} of ${files.length}`)
  const [{ n }] = await objects(`SELECT count(*)::INTEGER AS n FROM read_parquet(${lit(glob)}, ${hive}) WHERE date = DATE ${lit(config.filter_day)}`)
  check(n === expected.filter(r => r.date === config.filter_day).length, `date filter returned ${n} rows`)
  console.log(`ok   ${ds.name || '(root)'}: ${files.length} files, ${rows.length} rows, DuckDB and hyparquet agree with PostgreSQL; date filter read ${read} of ${files.length} files`)
}

if (failures) {
  console.error(`${failures} of ${checks} checks failed`)
  process.exit(1)
}
console.log(`archive interop: ${checks} checks passed`)
