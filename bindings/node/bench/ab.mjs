// A/B of two builds of the addon in one process: each row times the same call
// on build A and build B over alternating 20 ms slices (41 pairs), so a load
// spike on a shared machine hits both alike, and prints the median of B/A.
// Asserts no timing; it does check that both builds sign the same bytes.
//
// To compare the current source with an older commit:
//
//   git worktree add /tmp/before REV && make -C /tmp/before build-node
//   make build-node
//   node bench/ab.mjs /tmp/before/bindings/node/fractal-lba.linux-x64-gnu.node \
//        fractal-lba.linux-x64-gnu.node [--version 1] [--only signHmacMany]
//
// Each process lays the two builds out in memory its own way (ASLR), which moves
// a row by several percent from one run to the next: compare the median of a few
// runs, not one.

import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import path from 'node:path'
import { parseArgs } from 'node:util'

import { KEY, record } from './records.mjs'

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: { version: { type: 'string', default: '2' }, only: { type: 'string' } },
})
assert.equal(positionals.length, 2, 'usage: node bench/ab.mjs A.node B.node [--version 1|2] [--only CALL]')
const require = createRequire(import.meta.url)
const [A, B] = positionals.map((p) => require(path.resolve(p)))
const VERSION = Number(opts.version)
assert.ok(VERSION === 1 || VERSION === 2, '--version is 1 or 2')
const SIGN = { version: VERSION }
const N = 1000

const records = Array.from({ length: N }, (_, i) => record(i))
const signed = records.map((p) => ({ ...p, sig: A.signHmac(p, KEY, SIGN) }))
for (const m of [A, B]) {
  assert.deepEqual(m.signHmacMany(records, KEY, SIGN), signed.map((p) => p.sig), 'both builds sign the same bytes')
}
const verifiers = new Map(
  [A, B].map((m) => {
    const v = new m.Verifier({ versions: [VERSION] })
    v.addHmacKey(KEY)
    return [m, v]
  }),
)
const input = { merkle_root: records[0].merkle_root, epoch: 1, shard_id: 's', scales: [2, 4, 8, 16, 32], N_j: { 2: 3, 4: 5, 8: 9, 16: 17, 32: 31 }, coh_star: 0.73, r: 0.87 }

let sink = 0
const ops = {
  signHmac: (m) => {
    for (let i = 0; i < 200; i++) sink += m.signHmac(records[i], KEY, SIGN).length
    return 200
  },
  signHmacMany: (m) => {
    sink += m.signHmacMany(records, KEY, SIGN).length
    return N
  },
  'Verifier.verify': (m) => {
    const v = verifiers.get(m)
    for (let i = 0; i < 200; i++) v.verify(signed[i])
    return 200
  },
  'Verifier.verifyMany': (m) => {
    sink += verifiers.get(m).verifyMany(signed).length
    return N
  },
  validate: (m) => {
    for (let i = 0; i < 200; i++) m.validate(records[i])
    return 200
  },
  buildPcs: (m) => {
    for (let i = 0; i < 200; i++) sink += m.buildPcs(input, { tolD: 0.2 }).epoch
    return 200
  },
}

/** ns per record of `fn` on build `m` over a slice of `ms` milliseconds. */
function slice(fn, m, ms) {
  let n = 0
  const t0 = process.hrtime.bigint()
  const end = t0 + BigInt(ms * 1e6)
  let t = t0
  while (t < end) {
    n += fn(m)
    t = process.hrtime.bigint()
  }
  return Number(t - t0) / n
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

console.log(`v${VERSION}: ns per record, medians of 41 alternating 20 ms slices`)
console.log(`| call | A | B | B/A |\n|---|---|---|---|`)
for (const [name, fn] of Object.entries(ops).filter(([n]) => !opts.only || n === opts.only)) {
  for (let w = 0; w < 3; w++) {
    fn(A)
    fn(B)
  }
  const a = []
  const b = []
  const r = []
  for (let k = 0; k < 41; k++) {
    const x = slice(fn, A, 20)
    const y = slice(fn, B, 20)
    a.push(x)
    b.push(y)
    r.push(y / x)
  }
  console.log(`| ${name} | ${median(a).toFixed(0)} | ${median(b).toFixed(0)} | ${median(r).toFixed(3)} |`)
}
if (sink === 0) console.log('(nothing measured)')
