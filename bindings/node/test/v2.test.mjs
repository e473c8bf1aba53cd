// Contract v2 beyond the golden vectors: the `version` option, records as
// plain objects (unknown fields kept and signed, absent optional fields left
// absent), the SPEC §1 limits and what JSON cannot carry, the Verifier's
// policy, read signatures, and the Client's signatureVersion and signed reads.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'

import {
  Client,
  Verifier,
  buildPcs,
  canonicalPayload,
  digest,
  generateEd25519Keypair,
  parsePcs,
  readAuthorization,
  readDigest,
  signEd25519,
  signHmac,
  signHmacMany,
  signHmacManyAsync,
  validate,
} from '@fractal-lba/client'

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
const KEY = 'tenant-secret'

function fails(fn, { code, kind, field, index }) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Error)
    assert.equal(e.code, code, e.message)
    if (kind) assert.equal(e.kind, kind, e.message)
    if (field !== undefined) {
      assert.equal(e.field, field, e.message)
      assert.ok(e.message.includes(field), `message names ${field}: ${e.message}`)
    }
    if (index !== undefined) assert.equal(e.index, index)
    return true
  })
}

const v2Verifier = () => {
  const v = new Verifier()
  v.addHmacKey(KEY)
  return v
}

test('version: 2 by default, 1 on request; anything else names `version`', async () => {
  const rec = buildPcs(INPUT)
  const ed = generateEd25519Keypair()
  const v2 = signHmac(rec, KEY)
  assert.match(v2, /^v2:[A-Za-z0-9+/]{43}=$/)
  assert.equal(signHmac(rec, KEY, { version: 2 }), v2)
  assert.equal(signHmac(rec, KEY, {}), v2)
  assert.equal(signHmac(rec, KEY, undefined), v2)
  const v1 = signHmac(rec, KEY, { version: 1 })
  assert.match(v1, /^[A-Za-z0-9+/]{43}=$/)
  assert.equal(`v2:${v1}`.length, v2.length)
  assert.notEqual(v2.slice(3), v1, 'another payload and digest')
  assert.match(signEd25519(rec, ed.seed), /^v2:[A-Za-z0-9+/]{86}==$/)
  assert.match(signEd25519(rec, ed.seed, { version: 1 }), /^[A-Za-z0-9+/]{86}==$/)
  // The v2 digest is SHA-256 of the domain line and the payload; v1 has no domain.
  const { createHash } = await import('node:crypto')
  const sha = (...parts) => createHash('sha256').update(Buffer.concat(parts)).digest()
  assert.deepEqual(digest(rec), sha(Buffer.from('fractal-lba/pcs/v2\n'), canonicalPayload(rec)))
  assert.deepEqual(digest(rec, { version: 1 }), sha(canonicalPayload(rec, { version: 1 })))
  assert.deepEqual(signHmacMany([rec, rec], KEY), [v2, v2])
  assert.deepEqual(await signHmacManyAsync([rec], KEY, { version: 1 }), [v1])

  for (const bad of [{ version: 3 }, { version: 0 }, { version: 1.5 }, { version: '2' }, { version: 'v2' }, { version: 2n }, { version: NaN }]) {
    for (const call of [
      () => signHmac(rec, KEY, bad),
      () => signEd25519(rec, ed.seed, bad),
      () => canonicalPayload(rec, bad),
      () => digest(rec, bad),
      () => signHmacMany([rec], KEY, bad),
    ]) {
      fails(call, { code: 'ERR_INVALID_ARGUMENT', kind: 'invalid_argument', field: 'version' })
    }
    await assert.rejects(signHmacManyAsync([rec], KEY, bad), (e) => e.code === 'ERR_INVALID_ARGUMENT' && e.field === 'version')
  }
  fails(() => signHmac(rec, KEY, { vresion: 2 }), { code: 'ERR_INVALID_ARGUMENT', field: 'vresion' })
  fails(() => signHmac(rec, KEY, 2), { code: 'ERR_INVALID_ARGUMENT', field: 'options' })
  // The async batch rejects (never throws) for a bad record, key or option.
  await assert.rejects(signHmacManyAsync([rec, { ...rec, epoch: 'x' }], KEY), (e) => e.field === 'epoch' && e.index === 1)
  await assert.rejects(signHmacManyAsync([rec], ''), (e) => e.code === 'ERR_INVALID_KEY')
})

test('unknown fields round-trip: kept by parsePcs, signed by v2 exactly as sent, ignored by v1', () => {
  const rec = {
    ...buildPcs(INPUT),
    zz_agent: { host: 'node-7', tags: ['a', 1, 2.5, null, true, { deep: [1e21, -0, 1e-7] }], 'é\u2028': 'x' },
    aa_first: null,
  }
  const sig = signHmac(rec, KEY)
  const wire = JSON.stringify({ ...rec, sig })
  const parsed = parsePcs(wire)
  assert.deepEqual(parsed.zz_agent, { ...rec.zz_agent, tags: ['a', 1, 2.5, null, true, { deep: [1e21, 0, 1e-7] }] })
  assert.equal(parsed.aa_first, null)
  assert.deepEqual(canonicalPayload(parsed), canonicalPayload(rec))
  const payload = canonicalPayload(rec).toString('utf8')
  assert.ok(payload.startsWith('{"D_hat":'), payload)
  assert.ok(payload.includes('"aa_first":null'), payload)
  assert.ok(payload.includes('"zz_agent":{"host":"node-7","tags":["a",1,2.5,null,true,{"deep":[1e+21,0,1e-7]}],"é\u2028":"x"}'), payload)
  v2Verifier().verify(parsed)
  v2Verifier().verify({ ...rec, sig })
  // `undefined` is absent, as JSON.stringify leaves it out.
  assert.deepEqual(canonicalPayload({ ...rec, zz_gone: undefined }), canonicalPayload(rec))
  // A change anywhere in an unknown field breaks v2 and not v1.
  const changed = structuredClone({ ...rec, sig })
  changed.zz_agent.tags[5].deep[0] = 1e22
  fails(() => v2Verifier().verify(changed), { code: 'ERR_SIGNATURE', kind: 'signature_invalid', field: 'sig' })
  const v1 = new Verifier({ versions: [1] })
  v1.addHmacKey(KEY)
  const v1sig = signHmac(rec, KEY, { version: 1 })
  v1.verify({ ...changed, sig: v1sig })
  assert.deepEqual(canonicalPayload(rec, { version: 1 }), canonicalPayload(buildPcs(INPUT), { version: 1 }))
})

test('absent optional fields stay absent; adding one (even its default) changes the v2 payload', () => {
  const full = buildPcs(INPUT)
  const minimal = { ...full }
  for (const k of ['seed', 'scales', 'N_j', 'v_star', 'regime', 'attempt']) delete minimal[k]
  const parsed = parsePcs(JSON.stringify(minimal))
  for (const k of ['seed', 'scales', 'N_j', 'v_star', 'regime', 'attempt']) assert.ok(!(k in parsed), `${k} left out`)
  assert.deepEqual(canonicalPayload(parsed), canonicalPayload(minimal))
  assert.equal(canonicalPayload(minimal).toString(), JSON.stringify({
    D_hat: full.D_hat, budget: full.budget, coh_star: full.coh_star, epoch: 1, merkle_root: full.merkle_root,
    pcs_id: full.pcs_id, r: full.r, schema: full.schema, shard_id: full.shard_id, version: full.version,
  }))
  const sig = signHmac(minimal, KEY)
  v2Verifier().verify({ ...parsed, sig })
  for (const [k, v] of [['seed', 0], ['scales', []], ['N_j', {}], ['v_star', []], ['regime', '']]) {
    assert.notDeepEqual(canonicalPayload({ ...minimal, [k]: v }), canonicalPayload(minimal), k)
    fails(() => v2Verifier().verify({ ...minimal, [k]: v, sig }), { code: 'ERR_SIGNATURE', kind: 'signature_invalid' })
  }
  // attempt is a delivery field: never signed.
  v2Verifier().verify({ ...minimal, attempt: 1, sig })
  // `null` is not "absent" (SPEC §1: omitted, never null), as for the parser.
  for (const k of ['seed', 'scales', 'N_j', 'v_star', 'regime', 'attempt', 'sent_at', 'sig', 'ft']) {
    fails(() => signHmac({ ...full, [k]: null }, KEY), { code: 'ERR_INVALID_FIELD', field: k })
    fails(() => parsePcs(JSON.stringify({ ...full, [k]: null })), { code: 'ERR_INVALID_FIELD', field: k })
  }
})

test('tampering with regime, scales, N_j, v_star or seed after v2 signing fails; delivery fields do not', () => {
  const rec = buildPcs(INPUT)
  const ed = generateEd25519Keypair()
  const v = v2Verifier()
  v.addEd25519PublicKey(ed.publicKey)
  for (const sig of [signHmac(rec, KEY), signEd25519(rec, ed.seed)]) {
    const signed = { ...rec, sig }
    v.verify(signed)
    for (const [what, change] of [
      ['regime', { regime: 'mixed' }],
      ['scales order', { scales: [4, 2, 8, 16, 32] }],
      ['scales added', { scales: [...rec.scales, 64] }],
      ['N_j count', { N_j: { ...rec.N_j, 4: 6 } }],
      ['N_j entry removed', { N_j: { 2: 3, 4: 5, 8: 9, 16: 17 } }],
      ['v_star', { v_star: [0.12, 0.99] }],
      ['seed', { seed: 43 }],
      ['schema', { schema: 'fractal-lba-kakeya2' }],
      ['version', { version: '0.2' }],
      ['D_hat', { D_hat: rec.D_hat + 1e-12 }],
    ]) {
      fails(() => v.verify({ ...signed, ...change }), { code: 'ERR_SIGNATURE', kind: 'signature_invalid', field: 'sig' })
      const [check] = v.verifyMany([{ ...signed, ...change }])
      assert.equal(check.kind, 'signature_invalid', what)
    }
    v.verify({ ...signed, attempt: 5, sent_at: '2030-01-01T00:00:00Z', ft: { outbox_seq: 9, degraded: true } })
  }
})

test('SPEC §1 limits and required fields: typed errors naming the field, in every route', () => {
  const rec = buildPcs(INPUT)
  const many = (n) => Array.from({ length: n }, (_, i) => i + 1)
  const cases = [
    [{ scales: many(65) }, 'scales'],
    [{ v_star: many(65).map((x) => x / 100) }, 'v_star'],
    [{ scales: many(64), N_j: Object.fromEntries(many(65).map((s) => [s, 1])) }, 'N_j'],
    [{ scales: [2, 0, 8], N_j: {} }, 'scales[1]'],
    [{ N_j: { ...rec.N_j, 3: 1 } }, 'N_j.3'],
    [{ N_j: { ...rec.N_j, '04': 1 } }, 'N_j.04'],
    [{ N_j: { ...rec.N_j, 4: 0 } }, 'N_j.4'],
    [{ shard_id: '' }, 'shard_id'],
    [{ shard_id: 'x'.repeat(129) }, 'shard_id'],
    [{ merkle_root: 'é'.repeat(65) }, 'merkle_root'],
    [{ coh_star: undefined }, 'coh_star'],
    [{ D_hat: undefined }, 'D_hat'],
    [{ r: undefined }, 'r'],
    [{ budget: undefined }, 'budget'],
  ]
  for (const [change, field] of cases) {
    const bad = { ...rec, ...change }
    for (const call of [() => validate(bad), () => signHmac(bad, KEY), () => canonicalPayload(bad), () => parsePcs(JSON.stringify(bad))]) {
      fails(call, { code: 'ERR_INVALID_FIELD', kind: 'invalid_field', field })
    }
  }
  // The limits are inclusive.
  validate({ ...rec, scales: many(64), N_j: Object.fromEntries(many(64).map((s) => [s, 1])), v_star: many(64).map(() => 0) })
  signHmac({ ...rec, shard_id: 'x'.repeat(128), merkle_root: '😀'.repeat(32) }, KEY)
  // v1 reads only its eight fields, but with the same requiredness and id limits.
  fails(() => signHmac({ ...rec, D_hat: undefined }, KEY, { version: 1 }), { code: 'ERR_INVALID_FIELD', field: 'D_hat' })
  fails(() => signHmac({ ...rec, shard_id: '' }, KEY, { version: 1 }), { code: 'ERR_INVALID_FIELD', field: 'shard_id' })
  signHmac({ ...rec, scales: many(65) }, KEY, { version: 1 })
})

test('what JSON cannot carry exactly is refused naming the field: NaN, Infinity, unsafe integers, non-JSON values', () => {
  const rec = buildPcs(INPUT)
  const cyclic = { a: 1 }
  cyclic.self = cyclic
  for (const [change, field] of [
    [{ D_hat: NaN }, 'D_hat'],
    [{ budget: -Infinity }, 'budget'],
    [{ v_star: [0.1, NaN] }, 'v_star[1]'],
    [{ zz: NaN }, 'zz'],
    [{ zz: { a: [0, { b: Infinity }] } }, 'zz.a[1].b'],
    [{ zz: 2 ** 53 }, 'zz'],
    [{ zz: -(2 ** 60) }, 'zz'],
    [{ zz: [1, 2, 9007199254740993] }, 'zz[2]'],
    [{ zz: 2n ** 64n }, 'zz'],
    [{ zz: () => 1 }, 'zz'],
    [{ zz: Symbol('s') }, 'zz'],
    [{ zz: [1, undefined] }, 'zz[1]'],
    [{ zz: new Date(0) }, 'zz'],
    [{ zz: Buffer.from('x') }, 'zz'],
    [{ zz: 'x\ud800' }, 'zz'],
    [{ zz: cyclic }, 'zz' + '.self'.repeat(127) + '.a'],
  ]) {
    fails(() => signHmac({ ...rec, ...change }, KEY), { code: 'ERR_INVALID_FIELD', kind: 'invalid_field', field })
    fails(() => validate({ ...rec, ...change }), { code: 'ERR_INVALID_FIELD', kind: 'invalid_field', field })
  }
  // A bigint keeps an integer exact; v2 then refuses it by name (SPEC §3.2), v1 does not sign it.
  for (const [change, field] of [
    [{ seed: 2n ** 53n }, 'seed'],
    [{ zz: { n: -(2n ** 53n) } }, 'zz.n'],
    [{ zz: 2n ** 63n }, 'zz'],
  ]) {
    fails(() => signHmac({ ...rec, ...change }, KEY), { code: 'ERR_INVALID_FIELD', field })
    signHmac({ ...rec, ...change }, KEY, { version: 1 })
  }
  // The edges that are fine: ±(2^53−1), 1e21 (JSON.stringify writes an exponent), a bigint within range.
  for (const zz of [2 ** 53 - 1, -(2 ** 53 - 1), 1e21, -1.5e300, 5e-324, 7n, 'x\ufffd']) {
    const sig = signHmac({ ...rec, zz }, KEY)
    const wire = JSON.stringify({ ...rec, zz: typeof zz === 'bigint' ? Number(zz) : zz, sig })
    v2Verifier().verify(parsePcs(wire))
  }
  // A field name with a lone surrogate cannot be written as UTF-8 JSON.
  fails(() => signHmac({ ...rec, ['k\udc00']: 1 }, KEY), { code: 'ERR_INVALID_JSON', kind: 'invalid_json' })
  // Own enumerable keys only, as JSON.stringify: inherited and hidden ones are not sent, so not signed.
  const proto = Object.create({ inherited: 1 })
  Object.defineProperty(proto, 'hidden', { value: 2, enumerable: false })
  assert.deepEqual(canonicalPayload(Object.assign(proto, rec)), canonicalPayload(rec))
})

test('Verifier policy: v2 only by default; versions and acceptEncodings; bad options name themselves', async () => {
  const rec = buildPcs(INPUT)
  const v1sig = signHmac(rec, KEY, { version: 1 })
  const v2sig = signHmac(rec, KEY)
  const def = v2Verifier()
  assert.deepEqual(def.policy, { versions: ['v2'], acceptEncodings: [] })
  def.verify({ ...rec, sig: v2sig })
  fails(() => def.verify({ ...rec, sig: v1sig }), { code: 'ERR_SIGNATURE', kind: 'unsupported_signature_version', field: 'sig' })
  fails(() => def.verify({ ...rec, sig: `v3:${v1sig}` }), { code: 'ERR_SIGNATURE', kind: 'unsupported_signature_version' })
  fails(() => def.verify(rec), { code: 'ERR_SIGNATURE', kind: 'signature_missing' })
  const records = [{ ...rec, sig: v2sig }, { ...rec, sig: v1sig }, { ...rec, sig: 'v9:AAAA' }, rec]
  const want = [
    { valid: true },
    { valid: false, code: 'ERR_SIGNATURE', kind: 'unsupported_signature_version', field: 'sig' },
    { valid: false, code: 'ERR_SIGNATURE', kind: 'unsupported_signature_version', field: 'sig' },
    { valid: false, code: 'ERR_SIGNATURE', kind: 'signature_missing', field: 'sig' },
  ]
  const strip = (checks) => checks.map(({ message, ...rest }) => rest)
  assert.deepEqual(strip(def.verifyMany(records)), want)
  assert.deepEqual(strip(await def.verifyManyAsync(records)), want)

  const both = new Verifier({ versions: [1, 'v2', 2], acceptEncodings: ['seed-go', 'seed-python', 'seed-go'] })
  both.addHmacKey(KEY)
  assert.deepEqual(both.policy, { versions: ['v1', 'v2'], acceptEncodings: ['seed-python', 'seed-go'] })
  both.verify({ ...rec, sig: v1sig })
  both.verify({ ...rec, sig: v2sig })
  const v1only = new Verifier({ versions: ['v1'] })
  v1only.addHmacKey(KEY)
  fails(() => v1only.verify({ ...rec, sig: v2sig }), { code: 'ERR_SIGNATURE', kind: 'unsupported_signature_version' })
  // setPolicy keeps the keys.
  v1only.setPolicy({ versions: [2] })
  assert.deepEqual(v1only.policy, { versions: ['v2'], acceptEncodings: [] })
  assert.equal(v1only.size, 1)
  v1only.verify({ ...rec, sig: v2sig })

  for (const [options, field] of [
    [{ versions: [] }, 'versions'],
    [{ versions: 'v2' }, 'versions'],
    [{ versions: [3] }, 'versions[0]'],
    [{ versions: ['v2', 'V1'] }, 'versions[1]'],
    [{ acceptEncodings: ['seed-rust'] }, 'acceptEncodings[0]'],
    [{ acceptEncodings: 'seed-go' }, 'acceptEncodings'],
    [{ encodings: [] }, 'encodings'],
    [7, 'options'],
  ]) {
    fails(() => new Verifier(options), { code: 'ERR_INVALID_ARGUMENT', kind: 'invalid_argument', field })
    fails(() => new Verifier().setPolicy(options), { code: 'ERR_INVALID_ARGUMENT', field })
  }
})

test('read signatures (SPEC §6.1): the header, the digest, the time window, and the refusals', async () => {
  const { createHash, createHmac } = await import('node:crypto')
  const ed = generateEd25519Keypair()
  const id = 'a'.repeat(64)
  const d = createHash('sha256').update(`fractal-lba/read/v1\nacme\n${id}\n1700000000`).digest()
  assert.deepEqual(readDigest('acme', id, 1700000000), d)
  const mac = createHmac('sha256', KEY).update(d).digest('base64')
  assert.equal(readAuthorization('acme', id, 1700000000, 'hmac', KEY), `Fractal t=1700000000, sig=${mac}`)
  assert.match(readAuthorization('acme', id, 1700000000, 'ed25519', ed.seed), /^Fractal t=1700000000, sig=[A-Za-z0-9+/]{86}==$/)

  const v = v2Verifier()
  v.addEd25519PublicKey(ed.publicKey)
  const now = Math.floor(Date.now() / 1000)
  for (const [alg, key] of [['hmac', KEY], ['ed25519', ed.seed]]) {
    const header = readAuthorization('acme', id, now, alg, key)
    v.verifyRead('acme', id, header) // now defaults to the clock
    v.verifyRead('acme', id, header, now + 300)
    v.verifyRead('acme', id, header, BigInt(now - 300))
    fails(() => v.verifyRead('acme', id, header, now + 301), { code: 'ERR_SIGNATURE', kind: 'signature_invalid', field: 'sig' })
    fails(() => v.verifyRead('other', id, header, now), { code: 'ERR_SIGNATURE', kind: 'signature_invalid' })
  }
  for (const missing of [undefined, null, '', '   ']) {
    fails(() => v.verifyRead('acme', id, missing, now), { code: 'ERR_SIGNATURE', kind: 'signature_missing', field: 'sig' })
  }
  fails(() => v.verifyRead('acme', id, `Bearer ${KEY}`, now), { code: 'ERR_SIGNATURE', kind: 'signature_invalid' })
  fails(() => readAuthorization('acme', id, -1, 'hmac', KEY), { code: 'ERR_INVALID_ARGUMENT', field: 't' })
  fails(() => readAuthorization('acme', id, 1.5, 'hmac', KEY), { code: 'ERR_INVALID_ARGUMENT', field: 't' })
  fails(() => readAuthorization('acme', id, 1, 'rsa', KEY), { code: 'ERR_INVALID_ARGUMENT', field: 'alg' })
  fails(() => readAuthorization('acme', id, 1, 'hmac', ''), { code: 'ERR_INVALID_KEY' })
  fails(() => readAuthorization('acme', id, 1, 'ed25519', 'not-base64'), { code: 'ERR_INVALID_KEY' })
  fails(() => v.verifyRead('acme', id, 'Fractal t=1, sig=AAAA', 'soon'), { code: 'ERR_INVALID_ARGUMENT', field: 'now' })
})

/** A loopback server that records requests and answers 200 with an outcome (or null on GET). */
async function recorder() {
  const seen = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      seen.push({ method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks) })
      res.writeHead(req.method === 'GET' ? 404 : 200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(req.method === 'GET' ? { error: { code: 'not_found', message: 'none' } } : { accepted: true, escalated: false }))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    close() {
      server.closeAllConnections()
      server.close()
    },
  }
}

test('Client: signatureVersion picks the payload submit signs (v2 by default); unknown fields are sent and signed', async (t) => {
  const srv = await recorder()
  t.after(() => srv.close())
  const rec = { ...buildPcs(INPUT), zz_agent: { host: 'node-7' } }
  for (const [options, version] of [[{}, 2], [{ signatureVersion: 2 }, 2], [{ signatureVersion: 1 }, 1]]) {
    const client = new Client({ baseUrl: srv.url, alg: 'hmac', key: KEY, ...options })
    await client.submit(rec)
    const sent = parsePcs(srv.seen.at(-1).body)
    assert.deepEqual(sent.zz_agent, rec.zz_agent, 'the unknown field is sent')
    assert.equal(sent.sig, signHmac(rec, KEY, { version }))
    const v = new Verifier({ versions: [version] })
    v.addHmacKey(KEY)
    v.verify(sent)
  }
  for (const bad of [3, '2', 1.5]) {
    fails(() => new Client({ baseUrl: srv.url, signatureVersion: bad }), { code: 'ERR_INVALID_ARGUMENT', field: 'signatureVersion' })
  }
})

test('Client.get signs the read when the client holds a key, and sends no Authorization otherwise', async (t) => {
  const srv = await recorder()
  t.after(() => srv.close())
  const ed = generateEd25519Keypair()
  const v = v2Verifier()
  v.addEd25519PublicKey(ed.publicKey)
  const id = buildPcs(INPUT).pcs_id
  for (const [tenant, alg, key] of [['acme', 'hmac', KEY], [undefined, 'ed25519', ed.seed]]) {
    const client = new Client({ baseUrl: srv.url, alg, key, ...(tenant ? { tenant } : {}) })
    assert.equal(await client.get(id), null)
    const req = srv.seen.at(-1)
    assert.equal(req.path, `/v1/pcs/${id}`)
    assert.match(req.headers.authorization, /^Fractal t=\d+, sig=/)
    // The tenant signed is the one sent (the server's default when none is set).
    v.verifyRead(tenant ?? 'default', id, req.headers.authorization)
  }
  await new Client({ baseUrl: srv.url }).get(id)
  assert.equal(srv.seen.at(-1).headers.authorization, undefined)
})
