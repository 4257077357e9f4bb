// check.mjs - reads every sample written by pq_sample with DuckDB and with
// hyparquet and compares rows, schema and footer metadata with the
// expectations in DIR/expected.json.  Exits non-zero on any mismatch.
//
// Usage: node check.mjs DIR
import fs from 'node:fs'
import path from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { parquetMetadata, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'

const STATS_MAX_STRING = 4096 // longer string bounds are not written
const dir = process.argv[2]
if (!dir) {
  console.error('usage: node check.mjs DIR')
  process.exit(2)
}
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8'))

let failures = 0
let checks = 0
let current = ''

// Record one check; print the failures only.
function check (cond, msg) {
  checks++
  if (!cond) {
    failures++
    console.error(`FAIL ${current}: ${msg}`)
  }
  return cond
}

// Printable form of a value (BigInt and -0 included).
function show (v) {
  if (typeof v === 'bigint') return `${v}n`
  if (Object.is(v, -0)) return '-0'
  return JSON.stringify(v) ?? String(v)
}

// Exact equality: NaN equals NaN, -0 differs from +0.
function same (a, b) {
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b)
  return a === b
}

// Expected value of a cell, typed like the readers' output.
function decode (type, v) {
  if (v === null) return null
  switch (type) {
    case 'TIMESTAMP_US': return BigInt(v)
    case 'DOUBLE':
      if (v === 'NaN') return NaN
      if (v === 'Infinity') return Infinity
      if (v === '-Infinity') return -Infinity
      if (v === '-0') return -0
      return v
    default: return v
  }
}

// Parquet sort order of the column type (strings: unsigned bytes).
function compare (type, a, b) {
  if (type === 'STRING') return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
  if (type === 'BOOLEAN') return Number(a) - Number(b)
  return a < b ? -1 : a > b ? 1 : 0
}

// Expected statistics of one column over a slice of rows.
function expectedStats (col, values) {
  let nulls = 0; let nans = 0; let min; let max; let has = false
  for (const v of values) {
    if (v === null) { nulls++; continue }
    if (col.type === 'DOUBLE' && Number.isNaN(v)) { nans++; continue }
    if (!has) { min = max = v; has = true; continue }
    if (compare(col.type, v, min) < 0) min = v
    if (compare(col.type, v, max) > 0) max = v
  }
  if (has && col.type === 'DOUBLE') {
    if (min === 0) min = -0
    if (max === 0) max = 0
  }
  if (has && col.type === 'STRING' &&
      (Buffer.byteLength(min) > STATS_MAX_STRING || Buffer.byteLength(max) > STATS_MAX_STRING)) {
    has = false
  }
  return { nulls, nans, has, min, max }
}

// Row slices of each row group (groups are cut by row count only).
function rowGroups (sample, rows) {
  const groups = []
  for (let i = 0; i < rows.length; i += sample.row_group_rows) {
    groups.push(rows.slice(i, i + sample.row_group_rows))
  }
  return groups
}

// Expected dictionary behaviour of a column: dict, plain, mixed or none.
function dictMode (sample, col, values) {
  if (!col.dictionary || col.type === 'BOOLEAN') return 'none'
  if (values.every(v => v === null)) return 'none'
  for (const item of sample.fallback.split(',')) {
    const [name, mode] = item.split('=')
    if (name === col.name) return mode
  }
  return 'dict'
}

const duckTypes = {
  STRING: 'VARCHAR',
  TIMESTAMP_US: 'TIMESTAMP WITH TIME ZONE',
  DOUBLE: 'DOUBLE',
  INT32: 'INTEGER',
  INT16: 'SMALLINT',
  BOOLEAN: 'BOOLEAN',
}

const physTypes = {
  STRING: 'BYTE_ARRAY',
  TIMESTAMP_US: 'INT64',
  DOUBLE: 'DOUBLE',
  INT32: 'INT32',
  INT16: 'INT32',
  BOOLEAN: 'BOOLEAN',
}

const convertedTypes = {
  STRING: 'UTF8', TIMESTAMP_US: 'TIMESTAMP_MICROS', INT16: 'INT_16',
}

// ------------------------------------------------------------------ DuckDB

// Run SQL and return rows as arrays of JS values.
async function rowsOf (con, sql) {
  const reader = await con.runAndReadAll(sql)
  return reader.getRows()
}

// Run SQL and return rows as objects.
async function objectsOf (con, sql) {
  const reader = await con.runAndReadAll(sql)
  return reader.getRowObjects()
}

// SQL string literal.
function lit (s) {
  return `'${s.replaceAll("'", "''")}'`
}

// Column expression whose value DuckDB hands back exactly.
function duckExpr (col) {
  const q = `"${col.name}"`
  return col.type === 'TIMESTAMP_US' ? `epoch_us(${q})` : q
}

// Normalise DuckDB values: BIGINT stays BigInt, everything else plain.
function duckValue (type, v) {
  if (v === null || v === undefined) return null
  if (type === 'TIMESTAMP_US') return BigInt(v)
  if (typeof v === 'bigint') return Number(v)
  return v
}

// DESCRIBE gives the expected DuckDB types.
async function duckDescribe (con, sample, file) {
  const rows = await objectsOf(con, `DESCRIBE SELECT * FROM read_parquet(${lit(file)})`)
  check(rows.length === sample.columns.length, `DESCRIBE has ${rows.length} columns`)
  sample.columns.forEach((col, i) => {
    const r = rows[i] || {}
    check(r.column_name === col.name, `DESCRIBE column ${i} is ${r.column_name}`)
    check(r.column_type === duckTypes[col.type],
      `DESCRIBE ${col.name}: ${r.column_type}, expected ${duckTypes[col.type]}`)
  })
}

// Every row equal, in file order.
async function duckRows (con, sample, file, rows) {
  const exprs = sample.columns.map(duckExpr).join(', ')
  const got = await rowsOf(con,
    `SELECT ${exprs} FROM read_parquet(${lit(file)}, file_row_number=true) ORDER BY file_row_number`)
  check(got.length === rows.length, `DuckDB read ${got.length} rows, expected ${rows.length}`)
  let bad = 0
  for (let i = 0; i < Math.min(got.length, rows.length); i++) {
    sample.columns.forEach((col, c) => {
      const g = duckValue(col.type, got[i][c])
      if (!same(g, rows[i][c]) && bad++ < 5) {
        check(false, `DuckDB row ${i} ${col.name}: ${show(g)} != ${show(rows[i][c])}`)
      }
    })
  }
  check(bad === 0, `DuckDB: ${bad} cells differ`)
}

// Filters that use row-group statistics still find every matching row.
async function duckFilters (con, sample, file, rows) {
  const probes = []
  sample.columns.forEach((col, c) => {
    if (col.type !== 'STRING' && col.type !== 'TIMESTAMP_US') return
    const vals = [...new Set(rows.map(r => r[c]).filter(v => v !== null))].slice(0, 12)
    for (const v of vals) probes.push([col, c, v])
  })
  for (const [col, c, v] of probes) {
    const want = rows.filter(r => r[c] !== null && r[c] === v).length
    const cond = col.type === 'STRING'
      ? `"${col.name}" = ${lit(v)}`
      : `"${col.name}" = make_timestamp(${v}::BIGINT)::TIMESTAMPTZ`
    const above = rows.filter(r => r[c] !== null && compare(col.type, r[c], v) > 0).length
    const gt = col.type === 'STRING'
      ? `"${col.name}" > ${lit(v)}`
      : `"${col.name}" > make_timestamp(${v}::BIGINT)::TIMESTAMPTZ`
    const [[n]] = await rowsOf(con, `SELECT count(*) FROM read_parquet(${lit(file)}) WHERE ${cond}`)
    check(Number(n) === want, `DuckDB filter ${cond}: ${n} rows, expected ${want}`)
    const [[m]] = await rowsOf(con, `SELECT count(*) FROM read_parquet(${lit(file)}) WHERE ${gt}`)
    check(Number(m) === above, `DuckDB filter ${gt}: ${m} rows, expected ${above}`)
  }
}

// Typed value of a DuckDB statistics string, parsed by DuckDB itself.
async function duckStat (con, col, s) {
  if (s === null) return undefined
  if (col.type === 'STRING') return s
  const cast = {
    TIMESTAMP_US: `epoch_us(${lit(s)}::TIMESTAMPTZ)`,
    DOUBLE: `${lit(s)}::DOUBLE`,
    INT32: `${lit(s)}::INTEGER`,
    INT16: `${lit(s)}::SMALLINT`,
    BOOLEAN: `${lit(s)}::BOOLEAN`,
  }[col.type]
  const [[v]] = await rowsOf(con, `SELECT ${cast}`)
  return duckValue(col.type, v)
}

// parquet_metadata(): counts, offsets, sizes, encodings and statistics.
async function duckMetadata (con, sample, file, rows, fileSize, footerStart) {
  const meta = await objectsOf(con,
    `SELECT * FROM parquet_metadata(${lit(file)}) ORDER BY row_group_id, column_id`)
  const groups = rowGroups(sample, rows)
  check(meta.length === groups.length * sample.columns.length,
    `parquet_metadata has ${meta.length} chunks, expected ${groups.length * sample.columns.length}`)
  let expectStart = 4n
  for (const m of meta) {
    const g = Number(m.row_group_id)
    const c = Number(m.column_id)
    const col = sample.columns[c]
    const values = (groups[g] || []).map(r => r[c])
    const where = `rg ${g} ${col.name}`
    check(m.path_in_schema === col.name, `${where}: path ${m.path_in_schema}`)
    check(m.type === physTypes[col.type], `${where}: type ${m.type}`)
    check(Number(m.row_group_num_rows) === values.length, `${where}: row_group_num_rows ${m.row_group_num_rows}`)
    check(Number(m.num_values) === values.length, `${where}: num_values ${m.num_values} != ${values.length}`)
    check(m.compression === sample.codec, `${where}: compression ${m.compression}`)
    const dpo = m.dictionary_page_offset
    const start = dpo ?? m.data_page_offset
    check(start === expectStart, `${where}: chunk starts at ${start}, expected ${expectStart}`)
    expectStart = start + m.total_compressed_size
    check(expectStart <= footerStart, `${where}: chunk ends at ${expectStart} past the footer at ${footerStart}`)
    const encodings = m.encodings.split(', ')
    const mode = dictMode(sample, col, values)
    if (mode === 'none' || mode === 'plain') {
      check(dpo === null, `${where}: unexpected dictionary page at ${dpo}`)
      check(!encodings.includes('RLE_DICTIONARY'), `${where}: encodings ${m.encodings}`)
    } else {
      check(dpo !== null && dpo < m.data_page_offset,
        `${where}: dictionary_page_offset ${dpo} data_page_offset ${m.data_page_offset} (mode ${mode})`)
      check(encodings.includes('RLE_DICTIONARY') && encodings.includes('PLAIN'),
        `${where}: encodings ${m.encodings} (mode ${mode})`)
    }
    check(encodings.includes('RLE') === col.optional, `${where}: RLE levels listed: ${m.encodings}`)
    const st = expectedStats(col, values)
    check(Number(m.stats_null_count) === st.nulls, `${where}: null_count ${m.stats_null_count} != ${st.nulls}`)
    const mn = await duckStat(con, col, m.stats_min_value)
    const mx = await duckStat(con, col, m.stats_max_value)
    const nonFinite = col.type === 'DOUBLE' && st.has && !(Number.isFinite(st.min) && Number.isFinite(st.max))
    if (st.has && !nonFinite) {
      check(same(mn, st.min) && same(mx, st.max),
        `${where}: min/max ${show(mn)}/${show(mx)} != ${show(st.min)}/${show(st.max)}`)
    } else if (!st.has) {
      check(mn === undefined && mx === undefined, `${where}: unexpected min/max ${show(mn)}/${show(mx)}`)
    }
    if (col.type === 'STRING') {
      check(m.stats_min === null && m.stats_max === null, `${where}: legacy min/max written for a string`)
    }
  }
  check(expectStart === footerStart, `last chunk ends at ${expectStart}, footer starts at ${footerStart}`)
}

// parquet_schema(): repetition, converted and logical types.
async function duckSchema (con, sample, file) {
  const rows = await objectsOf(con, `SELECT * FROM parquet_schema(${lit(file)})`)
  check(rows.length === sample.columns.length + 1, `parquet_schema has ${rows.length} rows`)
  check(Number(rows[0].num_children) === sample.columns.length, `root num_children ${rows[0].num_children}`)
  sample.columns.forEach((col, i) => {
    const r = rows[i + 1] || {}
    const where = `schema ${col.name}`
    check(r.name === col.name, `${where}: name ${r.name}`)
    check(r.type === physTypes[col.type], `${where}: type ${r.type}`)
    check(r.repetition_type === (col.optional ? 'OPTIONAL' : 'REQUIRED'), `${where}: repetition ${r.repetition_type}`)
    check(r.converted_type === (convertedTypes[col.type] ?? null), `${where}: converted_type ${r.converted_type}`)
    const lt = r.logical_type
    const ok = {
      STRING: lt === 'StringType()',
      TIMESTAMP_US: typeof lt === 'string' && lt.includes('isAdjustedToUTC=1') &&
        lt.includes('MICROS=MicroSeconds()') && lt.startsWith('TimestampType('),
      INT16: typeof lt === 'string' && lt.startsWith('IntType(') && lt.includes('isSigned=1'),
    }[col.type] ?? lt === null
    check(ok, `${where}: logical_type ${lt}`)
  })
}

// parquet_file_metadata() and parquet_kv_metadata().
async function duckFileMetadata (con, sample, file, rows, fileSize) {
  const [fm] = await objectsOf(con, `SELECT * FROM parquet_file_metadata(${lit(file)})`)
  check(fm.created_by === manifest.created_by, `created_by ${fm.created_by}`)
  check(Number(fm.num_rows) === rows.length, `num_rows ${fm.num_rows}`)
  check(Number(fm.num_row_groups) === rowGroups(sample, rows).length, `num_row_groups ${fm.num_row_groups}`)
  check(Number(fm.format_version) === 1, `format_version ${fm.format_version}`)
  check(Number(fm.file_size_bytes) === fileSize, `file_size_bytes ${fm.file_size_bytes}`)
  const orders = fm.column_orders.items ?? fm.column_orders
  check(orders.length === sample.columns.length &&
    orders.every(o => String(o).includes('TYPE_ORDER')), `column_orders ${orders}`)
  const kv = await rowsOf(con, `SELECT decode(key), decode(value) FROM parquet_kv_metadata(${lit(file)})`)
  check(JSON.stringify(kv) === JSON.stringify(sample.kv), `key/value metadata ${JSON.stringify(kv)}`)
}

// All DuckDB checks of one sample.
async function checkDuck (con, sample, file, rows, fileSize, footerStart) {
  await duckDescribe(con, sample, file)
  await duckRows(con, sample, file, rows)
  await duckMetadata(con, sample, file, rows, fileSize, footerStart)
  await duckSchema(con, sample, file)
  await duckFileMetadata(con, sample, file, rows, fileSize)
  await duckFilters(con, sample, file, rows)
}

// --------------------------------------------------------------- hyparquet

const parsers = { timestampFromMicroseconds: v => v }

// Footer as hyparquet parses it.
function hypMetadata (sample, ab, rows, footerStart) {
  const md = parquetMetadata(ab, { parsers })
  const groups = rowGroups(sample, rows)
  check(md.version === 1, `hyparquet version ${md.version}`)
  check(Number(md.num_rows) === rows.length, `hyparquet num_rows ${md.num_rows}`)
  check(md.created_by === manifest.created_by, `hyparquet created_by ${md.created_by}`)
  check(md.row_groups.length === groups.length, `hyparquet row groups ${md.row_groups.length}`)
  const kv = (md.key_value_metadata || []).map(e => [e.key, e.value])
  check(JSON.stringify(kv) === JSON.stringify(sample.kv), `hyparquet kv ${JSON.stringify(kv)}`)
  check(md.schema[0].num_children === sample.columns.length, 'hyparquet root num_children')
  sample.columns.forEach((col, i) => {
    const el = md.schema[i + 1]
    check(el.type === physTypes[col.type], `hyparquet schema ${col.name} type ${el.type}`)
    check(el.converted_type === convertedTypes[col.type], `hyparquet ${col.name} converted_type ${el.converted_type}`)
    const lt = el.logical_type
    const ok = {
      STRING: lt?.type === 'STRING',
      TIMESTAMP_US: lt?.type === 'TIMESTAMP' && lt.isAdjustedToUTC === true && lt.unit === 'MICROS',
      INT16: lt?.type === 'INTEGER' && lt.bitWidth === 16 && lt.isSigned === true,
    }[col.type] ?? lt === undefined
    check(ok, `hyparquet ${col.name} logical_type ${JSON.stringify(lt)}`)
  })
  let pos = 4n
  md.row_groups.forEach((rg, g) => {
    const n = groups[g].length
    check(Number(rg.num_rows) === n, `hyparquet rg ${g} num_rows ${rg.num_rows}`)
    check(rg.ordinal === g, `hyparquet rg ${g} ordinal ${rg.ordinal}`)
    let sumU = 0n; let sumC = 0n
    const first = rg.columns[0].meta_data
    check(rg.file_offset === (first.dictionary_page_offset ?? first.data_page_offset),
      `hyparquet rg ${g} file_offset ${rg.file_offset}`)
    rg.columns.forEach((cc, c) => {
      const col = sample.columns[c]
      const m = cc.meta_data
      const where = `hyparquet rg ${g} ${col.name}`
      const values = groups[g].map(r => r[c])
      check(cc.file_offset === 0n, `${where}: ColumnChunk.file_offset ${cc.file_offset}`)
      check(Number(m.num_values) === n, `${where}: num_values ${m.num_values}`)
      check(m.codec === sample.codec, `${where}: codec ${m.codec}`)
      check(m.path_in_schema.length === 1 && m.path_in_schema[0] === col.name, `${where}: path`)
      const start = m.dictionary_page_offset ?? m.data_page_offset
      check(start === pos, `${where}: starts at ${start}, expected ${pos}`)
      pos = start + m.total_compressed_size
      sumU += m.total_uncompressed_size; sumC += m.total_compressed_size
      if (sample.codec === 'UNCOMPRESSED') {
        check(m.total_uncompressed_size === m.total_compressed_size, `${where}: sizes differ uncompressed`)
      }
      const es = m.encoding_stats || []
      const dictPages = es.filter(e => e.page_type === 'DICTIONARY_PAGE').reduce((a, e) => a + e.count, 0)
      const dataPages = es.filter(e => e.page_type === 'DATA_PAGE').reduce((a, e) => a + e.count, 0)
      check(dictPages === (m.dictionary_page_offset === undefined ? 0 : 1), `${where}: dictionary page count ${dictPages}`)
      check(dataPages >= 1, `${where}: data page count ${dataPages}`)
      const mode = dictMode(sample, col, values)
      const dictData = es.filter(e => e.encoding === 'RLE_DICTIONARY').reduce((a, e) => a + e.count, 0)
      const plainData = es.filter(e => e.page_type === 'DATA_PAGE' && e.encoding === 'PLAIN').reduce((a, e) => a + e.count, 0)
      if (mode === 'mixed') check(dictData > 0 && plainData > 0, `${where}: mixed chunk stats ${JSON.stringify(es)}`)
      if (mode === 'dict') check(dictData > 0 && plainData === 0, `${where}: dictionary chunk stats ${JSON.stringify(es)}`)
      if (mode === 'plain' || mode === 'none') check(dictData === 0, `${where}: plain chunk stats ${JSON.stringify(es)}`)
      const st = expectedStats(col, values)
      const s = m.statistics || {}
      check(Number(s.null_count) === st.nulls, `${where}: null_count ${s.null_count}`)
      if (st.has) {
        check(same(s.min_value, st.min) && same(s.max_value, st.max),
          `${where}: min/max ${show(s.min_value)}/${show(s.max_value)} != ${show(st.min)}/${show(st.max)}`)
        check(s.is_min_value_exact === true && s.is_max_value_exact === true, `${where}: exactness flags`)
      } else {
        check(s.min_value === undefined && s.max_value === undefined, `${where}: unexpected min/max`)
      }
      if (col.type === 'STRING') {
        check(s.min === undefined && s.max === undefined, `${where}: legacy min/max on a string`)
      } else if (st.has) {
        check(same(s.min, s.min_value) && same(s.max, s.max_value), `${where}: legacy min/max differ`)
      }
    })
    check(rg.total_byte_size === sumU, `hyparquet rg ${g} total_byte_size ${rg.total_byte_size} != ${sumU}`)
    check(rg.total_compressed_size === sumC, `hyparquet rg ${g} total_compressed_size`)
  })
  check(pos === footerStart, `hyparquet: chunks end at ${pos}, footer at ${footerStart}`)
}

// Rows as hyparquet decodes them (ZSTD through hyparquet-compressors).
async function hypRows (sample, ab, rows) {
  const got = await parquetReadObjects({ file: ab, compressors, parsers })
  check(got.length === rows.length, `hyparquet read ${got.length} rows, expected ${rows.length}`)
  let bad = 0
  for (let i = 0; i < Math.min(got.length, rows.length); i++) {
    sample.columns.forEach((col, c) => {
      let g = got[i][col.name]
      if (g === undefined) g = null
      if (!same(g, rows[i][c]) && bad++ < 5) {
        check(false, `hyparquet row ${i} ${col.name}: ${show(g)} != ${show(rows[i][c])}`)
      }
    })
  }
  check(bad === 0, `hyparquet: ${bad} cells differ`)
}

// ------------------------------------------------------------------- main

// Raw file facts: magic at both ends and the footer position.
function fileFacts (buf) {
  check(buf.subarray(0, 4).toString('latin1') === 'PAR1', 'leading magic')
  check(buf.subarray(buf.length - 4).toString('latin1') === 'PAR1', 'trailing magic')
  const footerLen = buf.readUInt32LE(buf.length - 8)
  return BigInt(buf.length - 8 - footerLen)
}

const instance = await DuckDBInstance.create(':memory:')
const con = await instance.connect()
await con.run("SET TimeZone = 'UTC'")
let passed = 0
let failed = 0
for (const sample of manifest.samples) {
  current = sample.name
  const before = failures
  const file = path.join(dir, sample.file)
  const rows = sample.rows.map(r => r.map((v, c) => decode(sample.columns[c].type, v)))
  try {
    const buf = fs.readFileSync(file)
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
    const footerStart = fileFacts(buf)
    await checkDuck(con, sample, file, rows, buf.length, footerStart)
    hypMetadata(sample, ab, rows, footerStart)
    await hypRows(sample, ab, rows)
  } catch (e) {
    check(false, `exception: ${e.stack || e}`)
  }
  if (failures === before) passed++; else failed++
  console.log(`${failures === before ? 'ok  ' : 'FAIL'} ${sample.name} (${rows.length} rows)`)
}
console.log(`interop: ${checks} checks; ${passed} passed, ${failed} failed`)
process.exit(failed === 0 && failures === 0 ? 0 : 1)
