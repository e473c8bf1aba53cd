// Benchmark: the SDK's HMAC signing and signature verification, single and
// batch, against a pure-JavaScript implementation of SPEC §3–4 written here
// (JSON.stringify + node:crypto), in the same run. Prints a table; asserts no
// timing. It does check that both sides produce the same signatures first.
// `--version 2` (default) signs the v2 payload (SPEC §3.2, the whole record);
// `--version 1` the seed's eight fields (§3.1).
//
// Each cell is the median of ROUNDS timings of MS milliseconds, SDK and pure
// JS alternating, so a load spike on a shared machine hits both sides alike.
//
//   node bench/bench.mjs [--version 2] [--batch 1000] [--ms 100] [--rounds 7]

import assert from 'node:assert/strict'
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import os from 'node:os'
import { parseArgs } from 'node:util'

import { Verifier, signHmac, signHmacMany, signHmacManyAsync } from '@fractal-lba/client'

import { KEY, record } from './records.mjs'

const { values: opts } = parseArgs({
  options: {
    batch: { type: 'string', default: '1000' },
    ms: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '7' },
    version: { type: 'string', default: '2' },
  },
})
const VERSION = Number(opts.version)
assert.ok(VERSION === 1 || VERSION === 2, '--version is 1 or 2')
const SIGN = { version: VERSION }
const BATCH = Number(opts.batch)
const MS = Number(opts.ms)
const ROUNDS = Number(opts.rounds)

// ---------------------------------------------------------------- pure JS, SPEC §3–4

function round9(x) {
  if (!Number.isFinite(x)) throw new Error('NaN and Infinity cannot be signed')
  const y = x * 1e9
  const a = Math.abs(y)
  let n = Math.floor(a)
  if (a - n >= 0.5) n += 1 // half away from zero
  const r = (y < 0 ? -n : n) / 1e9
  return r === 0 ? 0 : r // no -0
}

function jsDigest(p) {
  // Keys in UTF-16 code-unit order; JSON.stringify writes RFC 8785 numbers and strings.
  const payload = JSON.stringify({
    D_hat: round9(p.D_hat),
    budget: round9(p.budget),
    coh_star: round9(p.coh_star),
    epoch: p.epoch,
    merkle_root: p.merkle_root,
    pcs_id: p.pcs_id,
    r: round9(p.r),
    shard_id: p.shard_id,
  })
  return createHash('sha256').update(payload).digest()
}

// v2 (SPEC §3.2): RFC 8785 of the record without its delivery fields. For the
// plain records here (no -0, integers within 2^53) JSON.stringify's numbers and
// strings are RFC 8785's; keys sort by UTF-16 code units, as Array#sort does.
const DELIVERY = new Set(['sig', 'attempt', 'sent_at', 'ft'])
function jcs(v) {
  if (Array.isArray(v)) return `[${v.map(jcs).join(',')}]`
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${jcs(v[k])}`).join(',')}}`
  }
  return JSON.stringify(v)
}
function jsDigestV2(p) {
  const body = {}
  for (const k of Object.keys(p)) if (!DELIVERY.has(k)) body[k] = p[k]
  return createHash('sha256').update('fractal-lba/pcs/v2\n').update(jcs(body)).digest()
}

const PREFIX = VERSION === 2 ? 'v2:' : ''
const digestOf = VERSION === 2 ? jsDigestV2 : jsDigest
const jsSignHmac = (p, key) => PREFIX + createHmac('sha256', key).update(digestOf(p)).digest('base64')

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
function jsVerifyHmac(p, key) {
  if (typeof p.sig !== 'string' || !p.sig.startsWith(PREFIX)) return false
  const b64 = p.sig.slice(PREFIX.length)
  if (b64 === '' || !B64.test(b64)) return false
  const got = Buffer.from(b64, 'base64')
  if (got.length !== 32 || got.toString('base64') !== b64) return false
  const want = createHmac('sha256', key).update(digestOf(p)).digest()
  return timingSafeEqual(got, want)
}

// ---------------------------------------------------------------- data

const records = Array.from({ length: BATCH }, (_, i) => record(i))
const signed = records.map((p) => ({ ...p, sig: signHmac(p, KEY, SIGN) }))
const verifier = new Verifier({ versions: [VERSION] })
verifier.addHmacKey(KEY)

// Same bytes on both sides before timing anything.
for (const p of signed) {
  assert.equal(jsSignHmac(p, KEY), p.sig)
  assert.equal(jsVerifyHmac(p, KEY), true)
}
assert.deepEqual(signHmacMany(records, KEY, SIGN), signed.map((p) => p.sig))
assert.ok(verifier.verifyMany(signed).every((c) => c.valid))

// ---------------------------------------------------------------- timing

let sink = 0
/** Runs `fn` (which handles `per` records) for about MS ms; returns ns per record. */
async function time(fn, per) {
  for (let i = 0; i < 3; i++) await fn(i) // warm-up
  let iters = 0
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(MS) * 1_000_000n
  let now = start
  while (now < deadline) {
    await fn(iters++)
    now = process.hrtime.bigint()
  }
  return Number(now - start) / (iters * per)
}

const single = (f) => (i) => {
  sink += f(i % BATCH)
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const rows = []
async function row(name, sdk, js, per) {
  const s = []
  const j = []
  for (let k = 0; k < ROUNDS; k++) {
    s.push(await time(sdk, per))
    j.push(await time(js, per))
  }
  rows.push([name, median(s), median(j)])
}

await row(
  'signHmac, one record',
  single((i) => signHmac(records[i], KEY, SIGN).length),
  single((i) => jsSignHmac(records[i], KEY).length),
  1,
)
await row(
  `signHmacMany, batch of ${BATCH}`,
  () => {
    sink += signHmacMany(records, KEY, SIGN).length
  },
  () => {
    sink += records.map((p) => jsSignHmac(p, KEY)).length
  },
  BATCH,
)
await row(
  `signHmacManyAsync, batch of ${BATCH}`,
  async () => {
    sink += (await signHmacManyAsync(records, KEY, SIGN)).length
  },
  () => {
    sink += records.map((p) => jsSignHmac(p, KEY)).length
  },
  BATCH,
)
await row(
  'Verifier.verify, one record',
  single((i) => {
    verifier.verify(signed[i])
    return 1
  }),
  single((i) => (jsVerifyHmac(signed[i], KEY) ? 1 : 0)),
  1,
)
await row(
  `Verifier.verifyMany, batch of ${BATCH}`,
  () => {
    sink += verifier.verifyMany(signed).length
  },
  () => {
    sink += signed.filter((p) => jsVerifyHmac(p, KEY)).length
  },
  BATCH,
)
await row(
  `Verifier.verifyManyAsync, batch of ${BATCH}`,
  async () => {
    sink += (await verifier.verifyManyAsync(signed)).length
  },
  () => {
    sink += signed.filter((p) => jsVerifyHmac(p, KEY)).length
  },
  BATCH,
)

const fmt = (ns) => (ns / 1000).toFixed(2)
const ops = (ns) => Math.round(1e9 / ns).toLocaleString('en-US')
console.log(
  `Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length}, load ${os.loadavg()[0].toFixed(1)}; ` +
    `HMAC-SHA256 over the v${VERSION} payload (SPEC §3–4); median of ${ROUNDS} × ${MS} ms per cell`,
)
console.log('')
console.log('| operation | SDK µs/record | pure JS µs/record | SDK records/s | pure JS records/s | SDK speed-up |')
console.log('|---|---:|---:|---:|---:|---:|')
for (const [name, s, j] of rows) {
  console.log(`| ${name} | ${fmt(s)} | ${fmt(j)} | ${ops(s)} | ${ops(j)} | ${(j / s).toFixed(2)}× |`)
}
if (sink === 42) console.log('') // keep results alive
