// The SDK's own behaviour beyond the golden vectors: JavaScript numbers,
// typed errors naming the field, batches (sync and on the thread pool), key
// rotation, the builder, the parser and the ring's handle.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

import {
  Ring,
  Verifier,
  buildPcs,
  canonicalPayload,
  generateEd25519Keypair,
  parsePcs,
  pcsId,
  signEd25519,
  signHmac,
  signHmacMany,
  signHmacManyAsync,
  validate,
  verify,
  verifyMany,
} from '@fractal-lba/client'

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'golden')
const canonical = JSON.parse(readFileSync(path.join(GOLDEN, 'canonical.json'), 'utf8')).testGroups[0]
const byComment = (needle) => {
  const t = canonical.tests.find((t) => t.comment.includes(needle))
  assert.ok(t, `no canonical case mentions ${needle}`)
  return t
}
const spec = byComment('SPEC §3 example')
const V1 = { version: 1 }

const INPUT = {
  merkle_root: 'a'.repeat(64),
  epoch: 1,
  shard_id: 'shard-001',
  scales: [2, 4, 8, 16, 32],
  N_j: { 2: 3, 4: 5, 8: 9, 16: 17, 32: 31 },
  coh_star: 0.73,
  v_star: [0.12, 0.98],
  r: 0.87,
  seed: 42,
}

function fails(fn, { code, kind, field, index }) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Error)
    assert.equal(e.code, code, e.message)
    if (kind) assert.equal(e.kind, kind)
    if (field !== undefined) {
      assert.equal(e.field, field, e.message)
      assert.ok(e.message.includes(field), `message names ${field}: ${e.message}`)
    }
    if (index !== undefined) assert.equal(e.index, index)
    return true
  })
}

test('numbers computed in JavaScript sign like the vectors', () => {
  // Doubles produced by arithmetic, not literals, must give the vectors' bytes.
  const cases = [
    ['r 0.1+0.2 rounds to 0.3', (r) => ({ ...r, r: 0.1 + 0.2 })],
    ['D_hat 1/3 rounds to 0.333333333', (r) => ({ ...r, D_hat: 1 / 3 })],
    ['coh_star 2/3 rounds to 0.666666667', (r) => ({ ...r, coh_star: 2 / 3 })],
    ['D_hat pi', (r) => ({ ...r, D_hat: Math.PI })],
    ['coh_star -0 prints as 0', (r) => ({ ...r, coh_star: -0 })],
    ['budget 1.0 prints as 1', (r) => ({ ...r, budget: 2 / 2 })],
    ['D_hat 1e21 prints as 1e+21', (r) => ({ ...r, D_hat: 10 ** 21 })],
    ['budget 1e-7 prints as 1e-7', (r) => ({ ...r, budget: 1 / 10 ** 7 })],
  ]
  // canonical.json holds v1 vectors (SPEC §3.1).
  for (const [comment, make] of cases) {
    const t = byComment(comment)
    const rec = make(t.record)
    assert.equal(canonicalPayload(rec, V1).toString(), t.expected.canonical, comment)
    assert.equal(signHmac(rec, canonical.hmac_key, V1), t.expected.sig_hmac, comment)
  }
})

test('integer fields accept integral doubles and bigints, and become the integer', () => {
  const t = byComment('epoch 2^53-1')
  const max = t.record.epoch
  assert.equal(max, Number.MAX_SAFE_INTEGER)
  for (const epoch of [max, BigInt(max), 9007199254740991.0]) {
    assert.equal(canonicalPayload({ ...t.record, epoch }, V1).toString(), t.expected.canonical)
    assert.equal(canonicalPayload({ ...t.record, epoch }).toString(), canonicalPayload(t.record).toString(), 'v2')
  }
  assert.equal(canonicalPayload({ ...spec.record, epoch: 1.0 }, V1).toString(), spec.expected.canonical)
  assert.equal(pcsId(spec.record.merkle_root, 1n, spec.record.shard_id), spec.expected.pcs_id)
  const rec = buildPcs({ ...INPUT, epoch: 1n, seed: -(2n ** 63n), scales: [2n, 4, 8, 16, 32] })
  assert.equal(rec.seed, -(2n ** 63n), 'a seed beyond 2^53 comes back as a bigint')
  assert.equal(rec.epoch, 1)
  assert.deepEqual(rec.scales, [2, 4, 8, 16, 32])
  validate({ ...rec, attempt: 3.0, N_j: { ...rec.N_j, 2: 3.0 } })
})

test('a fractional, non-finite or out-of-range integer is an invalid_field error naming the field', () => {
  const r = spec.record
  fails(() => signHmac({ ...r, epoch: 1.5 }, 'k'), { code: 'ERR_INVALID_FIELD', kind: 'invalid_field', field: 'epoch' })
  fails(() => signHmac({ ...r, epoch: 2 ** 53 }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'epoch' })
  fails(() => signHmac({ ...r, epoch: 2n ** 53n }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'epoch' })
  fails(() => signHmac({ ...r, epoch: -1 }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'epoch' })
  fails(() => signHmac({ ...r, epoch: NaN }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'epoch' })
  fails(() => signHmac({ ...r, epoch: Infinity }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'epoch' })
  fails(() => signHmac({ ...r, epoch: '1' }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'epoch' })
  fails(() => validate({ ...r, seed: 2 ** 63 }), { code: 'ERR_INVALID_FIELD', field: 'seed' })
  fails(() => validate({ ...r, seed: 2n ** 63n }), { code: 'ERR_INVALID_FIELD', field: 'seed' })
  fails(() => validate({ ...r, attempt: 0.5 }), { code: 'ERR_INVALID_FIELD', field: 'attempt' })
  fails(() => validate({ ...r, scales: [2, 4.5] }), { code: 'ERR_INVALID_FIELD', field: 'scales[1]' })
  fails(() => validate({ ...r, N_j: { 2: 3, 4: 5.5 } }), { code: 'ERR_INVALID_FIELD', field: 'N_j.4' })
  fails(() => validate({ ...r, v_star: [0.1, 'x'] }), { code: 'ERR_INVALID_FIELD', field: 'v_star[1]' })
  fails(() => validate({ ...r, ft: { clock_skew_ms: 1.25 } }), { code: 'ERR_INVALID_FIELD', field: 'ft.clock_skew_ms' })
  fails(() => validate({ ...r, ft: { fallbacks: ['a', 1] } }), { code: 'ERR_INVALID_FIELD', field: 'ft.fallbacks[1]' })
  fails(() => signHmac({ ...r, D_hat: NaN }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'D_hat' })
  fails(() => signHmac({ ...r, budget: -Infinity }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'budget' })
  fails(() => pcsId('root', 0.5, 'shard'), { code: 'ERR_INVALID_FIELD', field: 'epoch' })
})

test('missing fields, wrong types and lone surrogates name the field', () => {
  const { shard_id, ...noShard } = spec.record
  void shard_id
  fails(() => signHmac(noShard, 'k'), { code: 'ERR_INVALID_FIELD', field: 'shard_id' })
  fails(() => signHmac({ ...spec.record, shard_id: null }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'shard_id' })
  fails(() => signHmac({ ...spec.record, merkle_root: 7 }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'merkle_root' })
  fails(() => signHmac({ ...spec.record, shard_id: 'x\ud800y' }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'shard_id' })
  fails(() => signHmac({ ...spec.record, merkle_root: '\udc00' }, 'k'), { code: 'ERR_INVALID_FIELD', field: 'merkle_root' })
  // A real U+FFFD and a well-formed surrogate pair are fine.
  signHmac({ ...spec.record, shard_id: 'x\ufffdy\ud83e\udd80' }, 'k')
  fails(() => validate({ ...spec.record, ft: [1] }), { code: 'ERR_INVALID_FIELD', field: 'ft' })
  fails(() => signHmac('not a record', 'k'), { code: 'ERR_INVALID_ARGUMENT', field: 'record' })
  fails(() => signHmac([spec.record], 'k'), { code: 'ERR_INVALID_ARGUMENT', field: 'record' })
  fails(() => signHmac(spec.record, 42), { code: 'ERR_INVALID_ARGUMENT', field: 'key' })
  fails(() => signHmac(spec.record, new Float64Array([1])), { code: 'ERR_INVALID_ARGUMENT', field: 'key' })
  fails(() => signHmac(spec.record, new DataView(new ArrayBuffer(4))), { code: 'ERR_INVALID_ARGUMENT', field: 'key' })
  const key = Buffer.from('tenant-secret')
  assert.equal(signHmac(spec.record, new Uint8Array(key)), signHmac(spec.record, key))
  assert.equal(signHmac(spec.record, key.subarray(0, 6)), signHmac(spec.record, 'tenant'))
  fails(() => signHmac(spec.record, ''), { code: 'ERR_INVALID_KEY', kind: 'invalid_key' })
  fails(() => parsePcs('{"pcs_id": 7}'), { code: 'ERR_INVALID_FIELD', field: 'pcs_id' })
  fails(() => parsePcs('[]'), { code: 'ERR_INVALID_JSON', kind: 'invalid_json' })
  fails(() => parsePcs('{"a":"\ud800"}'), { code: 'ERR_INVALID_JSON' })
})

test('strings of every length around the fast path read whole', () => {
  // 256-byte stack buffer: lengths near it, with multi-byte characters at the
  // edge, in pcs_id (no length limit; signed by v1 and v2) and in an unknown
  // field (signed by v2).
  for (const n of [0, 1, 240, 248, 250, 251, 252, 253, 254, 255, 256, 257, 300, 5000]) {
    for (const tail of ['', 'é', '日', '😀']) {
      const s = 'x'.repeat(n) + tail
      const p = parsePcs(JSON.stringify({ ...spec.record, pcs_id: s, zz_note: s }))
      assert.equal(p.pcs_id, s)
      assert.equal(p.zz_note, s)
      assert.ok(canonicalPayload({ ...spec.record, pcs_id: s }, V1).toString('utf8').includes(`"pcs_id":"${s}"`), `length ${n} + ${tail}`)
      const v2 = canonicalPayload({ ...spec.record, pcs_id: s, zz_note: s }).toString('utf8')
      assert.equal(v2, canonicalPayload(p).toString('utf8'))
      assert.ok(v2.includes(`"pcs_id":"${s}"`) && v2.includes(`"zz_note":"${s}"`), `v2: length ${n} + ${tail}`)
    }
  }
  // shard_id and merkle_root: 1 to 128 bytes (SPEC §1), around the same buffer.
  for (const s of ['x', 'x'.repeat(128), 'é'.repeat(64), '😀'.repeat(32)]) {
    const p = parsePcs(JSON.stringify({ ...spec.record, shard_id: s, merkle_root: s }))
    assert.equal(p.shard_id, s)
    assert.deepEqual(canonicalPayload({ ...spec.record, shard_id: s, merkle_root: s }), canonicalPayload(p))
  }
})

test('validation errors carry ERR_VALIDATION and the field; unknown fields are ignored', () => {
  const rec = buildPcs(INPUT)
  validate({ ...rec, something_else: { nested: true } })
  fails(() => validate({ ...rec, coh_star: 1.06 }), { code: 'ERR_VALIDATION', kind: 'validation', field: 'coh_star' })
  fails(() => validate({ ...rec, regime: 'turbulent' }), { code: 'ERR_VALIDATION', field: 'regime' })
  fails(() => validate({ ...rec, pcs_id: 'abc' }), { code: 'ERR_VALIDATION', field: 'pcs_id' })
})

test('buildPcs computes the record and refuses unknown input fields', () => {
  const rec = buildPcs(INPUT)
  assert.equal(rec.pcs_id, spec.expected.pcs_id)
  assert.equal(rec.schema, 'fractal-lba-kakeya')
  assert.equal(rec.version, '0.1')
  assert.equal(rec.attempt, 1)
  assert.equal(rec.regime, 'sticky')
  assert.deepEqual(verify(rec), { accepted: true, escalated: false, recomputed_D_hat: rec.D_hat, recomputed_budget: rec.budget })
  fails(() => buildPcs({ ...INPUT, cohStar: 0.7 }), { code: 'ERR_INVALID_FIELD', field: 'cohStar' })
  fails(() => buildPcs({ ...INPUT, scales: [2] }), { code: 'ERR_VALIDATION', field: 'scales' })
  fails(() => buildPcs({ ...INPUT, r: 1.5 }), { code: 'ERR_VALIDATION', field: 'r' })
  fails(() => buildPcs(INPUT, { tolD: -1 }), { code: 'ERR_INVALID_ARGUMENT', field: 'tol_d' })
})

test('parsePcs round-trips what buildPcs made, losing no integer', () => {
  const rec = buildPcs({ ...INPUT, seed: 2n ** 62n + 1n, sent_at: '2026-01-01T00:00:00Z', ft: { outbox_seq: 3, degraded: true, fallbacks: ['disk'] } })
  const text = JSON.stringify(rec, (_, v) => (typeof v === 'bigint' ? `@@${v}@@` : v)).replace(/"@@(-?\d+)@@"/g, '$1')
  const back = parsePcs(text)
  assert.deepEqual(back, rec)
  assert.equal(back.seed, 2n ** 62n + 1n)
  assert.deepEqual(parsePcs(Buffer.from(text)), rec)
})

test('verify takes parameters in camelCase or snake_case and refuses unknown ones', () => {
  const rec = { ...buildPcs(INPUT), budget: 0.3 }
  assert.equal(verify(rec).escalated, true, 'budget 0.015 off the recomputed one')
  assert.equal(verify(rec, { budgetTol: 0.02 }).escalated, false)
  assert.equal(verify(rec, { budget_tol: 0.02 }).escalated, false)
  fails(() => verify(rec, { budgetTolerance: 0.02 }), { code: 'ERR_INVALID_ARGUMENT', field: 'budgetTolerance' })
  fails(() => verify(rec, { alpha: '0.3' }), { code: 'ERR_INVALID_ARGUMENT', field: 'alpha' })
  fails(() => verify(rec, { alpha: NaN }), { code: 'ERR_INVALID_ARGUMENT', field: 'alpha' })
  const many = verifyMany([rec, buildPcs(INPUT)], { budgetTol: 0.001 })
  assert.deepEqual(many.map((o) => o.escalated), [true, false])
  fails(() => verifyMany([rec, { ...rec, epoch: 'x' }]), { code: 'ERR_INVALID_FIELD', field: 'epoch', index: 1 })
})

test('signHmacMany signs like signHmac, in order, and names the bad record', async () => {
  const records = canonical.tests.map((t) => t.record)
  const sigs = signHmacMany(records, canonical.hmac_key, V1)
  assert.deepEqual(sigs, canonical.tests.map((t) => t.expected.sig_hmac))
  assert.deepEqual(await signHmacManyAsync(records, canonical.hmac_key, V1), sigs)
  const v2 = signHmacMany(records, canonical.hmac_key)
  assert.deepEqual(v2, records.map((r) => signHmac(r, canonical.hmac_key)))
  assert.deepEqual(await signHmacManyAsync(records, canonical.hmac_key, { version: 2 }), v2)
  assert.deepEqual(signHmacMany([], 'k'), [])
  const bad = [...records.slice(0, 3), { ...records[0], D_hat: NaN }]
  for (const options of [V1, undefined]) {
    fails(() => signHmacMany(bad, 'k', options), { code: 'ERR_INVALID_FIELD', field: 'D_hat', index: 3 })
    await assert.rejects(signHmacManyAsync(bad, 'k', options), (e) => e.code === 'ERR_INVALID_FIELD' && e.field === 'D_hat' && e.index === 3)
  }
  fails(() => signHmacMany(records[0], 'k'), { code: 'ERR_INVALID_ARGUMENT', field: 'records' })
  fails(() => signHmacMany([records[0], { ...records[0], epoch: 0.5 }], 'k'), { code: 'ERR_INVALID_FIELD', field: 'epoch', index: 1 })
})

test('a verifier accepts any of its keys (rotation) and reports batches per record', async () => {
  const rec = buildPcs(INPUT)
  const ed = generateEd25519Keypair()
  assert.match(ed.seed, /^[A-Za-z0-9+/]{43}=$/)
  const v = new Verifier()
  assert.equal(v.size, 0)
  v.addHmacKey('old-secret')
  v.addKey('hmac', 'new-secret')
  v.addEd25519PublicKey(ed.publicKey)
  assert.equal(v.size, 3)
  const records = [
    { ...rec, sig: signHmac(rec, 'old-secret') },
    { ...rec, sig: signHmac(rec, Buffer.from('new-secret')) },
    { ...rec, sig: signEd25519(rec, ed.seed) },
    { ...rec, sig: signHmac(rec, 'other-secret') },
    rec,
    { ...rec, sig: signHmac(rec, 'old-secret'), epoch: 'one' },
  ]
  for (const r of records.slice(0, 3)) v.verify(r)
  fails(() => v.verify(records[3]), { code: 'ERR_SIGNATURE', kind: 'signature_invalid', field: 'sig' })
  fails(() => v.verify(records[4]), { code: 'ERR_SIGNATURE', kind: 'signature_missing', field: 'sig' })
  const want = [
    { valid: true },
    { valid: true },
    { valid: true },
    { valid: false, code: 'ERR_SIGNATURE', kind: 'signature_invalid', field: 'sig' },
    { valid: false, code: 'ERR_SIGNATURE', kind: 'signature_missing', field: 'sig' },
    { valid: false, code: 'ERR_INVALID_FIELD', kind: 'invalid_field', field: 'epoch' },
  ]
  const strip = (checks) => checks.map(({ message, ...rest }) => rest)
  assert.deepEqual(strip(v.verifyMany(records)), want)
  assert.deepEqual(strip(await v.verifyManyAsync(records)), want)
  fails(() => v.addKey('rsa', 'x'), { code: 'ERR_INVALID_ARGUMENT', field: 'alg' })
  fails(() => v.addHmacKey(''), { code: 'ERR_INVALID_KEY' })
  fails(() => new Verifier().verify(records[0]), { code: 'ERR_SIGNATURE', kind: 'signature_invalid' })
})

test('errors never carry key material', () => {
  const secret = 'correct-horse-battery-staple'
  const v = new Verifier()
  v.addHmacKey(secret)
  const rec = buildPcs(INPUT)
  for (const fn of [
    () => v.verify({ ...rec, sig: signHmac(rec, 'x') }),
    () => signEd25519(rec, Buffer.from(secret).toString('base64')),
    () => v.addEd25519PublicKey(Buffer.from(secret).toString('base64')),
  ]) {
    assert.throws(fn, (e) => !e.message.includes(secret) && !e.message.includes(Buffer.from(secret).toString('base64')))
  }
})

test('a ring is a handle: shards come and go, health matters, moves are planned', () => {
  const ring = new Ring(50)
  fails(() => ring.pick('k'), { code: 'ERR_RING', kind: 'ring' })
  ring.addShard('a')
  ring.addShard('b', 2)
  assert.deepEqual(ring.stats(), { shards: 2, healthyShards: 2, points: 150, vnodes: 50 })
  fails(() => ring.addShard('a'), { code: 'ERR_RING' })
  fails(() => ring.addShard('c', 0), { code: 'ERR_INVALID_ARGUMENT', field: 'weight' })
  fails(() => ring.addShard('c', 1.5), { code: 'ERR_INVALID_ARGUMENT', field: 'weight' })
  fails(() => new Ring(0), { code: 'ERR_INVALID_ARGUMENT', field: 'vnodes' })
  const keys = Array.from({ length: 200 }, (_, i) => `key-${i}`)
  const before = Ring.withShards(ring.shards(), 50)
  ring.setHealthy('a', false)
  for (const k of keys) assert.equal(ring.pick(k), 'b')
  fails(() => ring.pickN('k', 2), { code: 'ERR_RING' })
  fails(() => ring.pickN('k', 0), { code: 'ERR_INVALID_ARGUMENT', field: 'n' })
  const moves = before.plan(ring, keys)
  assert.ok(moves.length > 0)
  for (const m of moves) assert.deepEqual([m.from, m.to], ['a', 'b'])
  assert.equal(moves.length, keys.filter((k) => before.pick(k) === 'a').length)
  ring.removeShard('a')
  fails(() => ring.removeShard('a'), { code: 'ERR_RING' })
  assert.deepEqual(ring.shards(), [{ name: 'b', weight: 2, healthy: true }])
})
