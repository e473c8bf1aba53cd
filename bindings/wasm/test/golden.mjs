// Every case of every file in golden/ (SPEC §8), in the browser, through the
// package's browser entry (WebAssembly). Ported from the Node SDK's
// test/golden.test.mjs: the same checks, with Uint8Array for Buffer; the files
// are fetched from the test server (run.mjs), which lists golden/*.json.
// Each record goes through the SDK twice: as the plain object JSON.parse gives
// (numbers are JavaScript doubles) and as JSON text through the strict parser
// (for canonical_v2.json, the exact wire text `record_text`). The expected
// values come from the files, never from the code under test.

import { assert, test } from './harness.mjs'

import {
  Ring,
  Verifier,
  canonicalPayload,
  digest,
  ed25519PublicKey,
  parsePcs,
  pcsId,
  readAuthorization,
  readDigest,
  signEd25519,
  signHmac,
  signHmacMany,
  validate,
  verify,
} from '@fractal-lba/client'

const files = (await (await fetch('/golden/')).json()).filter((f) => f.endsWith('.json')).sort()
const texts = Object.fromEntries(
  await Promise.all(files.map(async (f) => [f, await (await fetch(`/golden/${f}`)).text()])),
)
const enc = (s) => new TextEncoder().encode(s)
const utf8 = (b) => {
  if (!(b instanceof Uint8Array)) throw new Error(`expected a Uint8Array, got ${Object.prototype.toString.call(b)}`)
  return new TextDecoder().decode(b)
}
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')

function load(name) {
  const file = JSON.parse(texts[name])
  const tests = file.testGroups.flatMap((g) => g.tests)
  assert.equal(tests.length, file.numberOfTests, `${name}: numberOfTests`)
  return file
}

/** Asserts that `fn` throws the core error `kind` naming `field` (when given). */
function throwsKind(fn, kind, field, label) {
  let caught
  try {
    fn()
  } catch (e) {
    caught = e
  }
  assert.ok(caught, `${label}: expected a ${kind} error, got none`)
  assert.ok(caught instanceof Error, `${label}: not an Error`)
  assert.equal(caught.kind, kind, `${label}: kind (${caught.message})`)
  assert.match(caught.code, /^ERR_[A-Z_]+$/, `${label}: code`)
  if (field !== undefined && field !== null) {
    assert.equal(caught.field, field, `${label}: field (${caught.message})`)
    assert.ok(caught.message.includes(field), `${label}: message names the field: ${caught.message}`)
  }
  return caught
}

const label = (name, t) => `${name} tcId ${t.tcId} (${t.comment})`

// A value that changes a signed field's canonical form.
function tamper(record, field) {
  const r = { ...record }
  switch (field) {
    case 'epoch':
      r.epoch = r.epoch === 0 ? 1 : r.epoch - 1
      break
    case 'pcs_id':
    case 'merkle_root':
    case 'shard_id':
      // The last character (code point) replaced, not one appended: 128 bytes is the limit.
      r[field] = Array.from(r[field]).slice(0, -1).join('') + (r[field].endsWith('x') ? 'y' : 'x')
      break
    default:
      r[field] = r[field] === 0.5 ? 0.25 : 0.5
  }
  return r
}
const SIGNED = ['pcs_id', 'merkle_root', 'epoch', 'shard_id', 'D_hat', 'coh_star', 'r', 'budget']

/** A verifier holding the group's keys, with `policy` (default: v2 only). */
function keyed(g, policy) {
  const v = new Verifier(policy)
  v.addHmacKey(g.hmac_key)
  v.addEd25519PublicKey(g.ed25519_public)
  return v
}

/**
 * JSON text of a record that may hold bigints (written as their digits) and
 * −0 (written `-0.0`, which JSON.stringify would turn into `0`).
 */
function stringify(rec) {
  const marks = []
  const text = JSON.stringify(rec, function (k, v) {
    const raw = this[k]
    if (typeof raw === 'bigint') marks.push(raw.toString())
    else if (Object.is(raw, -0)) marks.push('-0.0')
    else return v
    return `\u0000mark${marks.length - 1}\u0000`
  })
  return text.replace(/"\\u0000mark(\d+)\\u0000"/g, (_, i) => marks[Number(i)])
}

/** Another integer ≥ 1 and within ±(2^53−1), so the record stays signable. */
const bump = (x) => (typeof x === 'bigint' ? (x > 1n ? x - 1n : x + 1n) : x > 1 ? x - 1 : x + 1)
const KNOWN = new Set([
  'pcs_id', 'schema', 'version', 'shard_id', 'epoch', 'attempt', 'sent_at', 'seed', 'scales', 'N_j',
  'coh_star', 'v_star', 'D_hat', 'r', 'regime', 'budget', 'merkle_root', 'sig', 'ft',
])

/**
 * Every change v2 signs (SPEC §3.2): the eight v1 fields, regime, scales,
 * N_j, v_star, seed, schema, version, an unknown field (added, changed,
 * removed), an optional field added or removed. Each keeps the record valid
 * at parse level, so only the signature can refuse it.
 */
function tamperings(signed) {
  const out = SIGNED.map((f) => [`v1 field ${f}`, tamper(signed, f)])
  const w = (what, change) => {
    const r = structuredClone(signed)
    change(r)
    out.push([what, r])
  }
  w('regime', (r) => (r.regime = r.regime === 'sticky' ? 'mixed' : 'sticky'))
  w('schema', (r) => (r.schema += 'x'))
  w('version', (r) => (r.version += 'x'))
  w('seed', (r) => (r.seed = r.seed === undefined ? 1 : bump(r.seed)))
  w('v_star', (r) => (r.v_star = r.v_star?.length ? [r.v_star[0] + 0.5, ...r.v_star.slice(1)] : [0.5]))
  if (!signed.scales || signed.scales.length < 64) {
    w('scales', (r) => {
      const have = new Set((r.scales ?? []).map(Number))
      let s = 1
      while (have.has(s)) s++
      r.scales = [...(r.scales ?? []), s]
    })
  }
  if (signed.N_j && Object.keys(signed.N_j).length > 0) {
    w('N_j', (r) => {
      const k = Object.keys(r.N_j)[0]
      r.N_j[k] = bump(r.N_j[k])
    })
  }
  w('unknown field added', (r) => (r.zz_tamper = true))
  for (const k of Object.keys(signed).filter((k) => !KNOWN.has(k))) {
    w(`unknown field ${k} changed`, (r) => (r[k] = [r[k]]))
    w(`unknown field ${k} removed`, (r) => delete r[k])
  }
  for (const k of ['regime', 'v_star', 'seed']) {
    if (signed[k] !== undefined) w(`optional ${k} removed`, (r) => delete r[k])
  }
  return out
}

const handlers = {
  // v1 (SPEC §3.1): the files' signatures are plain base64 over the eight fields.
  'canonical.json'(file) {
    const V1 = { version: 1 }
    for (const g of file.testGroups) {
      const verifier = keyed(g, { versions: ['v1'] })
      const v2only = keyed(g)
      test(`canonical: the group's seed has the group's public key`, () => {
        assert.equal(ed25519PublicKey(g.ed25519_seed), g.ed25519_public)
      })
      for (const t of g.tests) {
        test(`canonical ${label('', t)}`, () => {
          const e = t.expected
          const fromText = parsePcs(JSON.stringify(t.record))
          for (const [route, rec] of [['object', t.record], ['parsed', fromText]]) {
            const at = `${route} route`
            assert.equal(utf8(canonicalPayload(rec, V1)), e.canonical, `${at}: canonical`)
            assert.deepEqual(canonicalPayload(rec, V1), enc(e.canonical), `${at}: canonical bytes`)
            assert.equal(hex(digest(rec, V1)), e.digest_hex, `${at}: digest`)
            assert.equal(signHmac(rec, g.hmac_key, V1), e.sig_hmac, `${at}: hmac`)
            assert.equal(signHmac(rec, enc(g.hmac_key), V1), e.sig_hmac, `${at}: hmac, key as bytes`)
            assert.deepEqual(signHmacMany([rec, rec], g.hmac_key, V1), [e.sig_hmac, e.sig_hmac], `${at}: hmac batch`)
            assert.equal(signEd25519(rec, g.ed25519_seed, V1), e.sig_ed25519, `${at}: ed25519`)
            // The default is v2: another payload, a prefixed signature.
            assert.notEqual(utf8(canonicalPayload(rec)), e.canonical, `${at}: v2 payload differs`)
            assert.equal(signHmac(rec, g.hmac_key), signHmac(rec, g.hmac_key, { version: 2 }), `${at}: v2 by default`)
            assert.match(signHmac(rec, g.hmac_key), /^v2:[A-Za-z0-9+/]{43}=$/, `${at}: v2 sig`)
          }
          assert.equal(pcsId(t.record.merkle_root, t.record.epoch, t.record.shard_id), e.pcs_id)
          assert.equal(e.pcs_id === t.record.pcs_id, !t.flags.includes('PcsIdMismatch'))

          // Both expected signatures verify; tampering with any signed field breaks them.
          for (const sig of [e.sig_hmac, e.sig_ed25519]) {
            const signed = { ...t.record, sig }
            verifier.verify(signed)
            verifier.verify(parsePcs(JSON.stringify(signed)))
            for (const f of SIGNED) {
              throwsKind(() => verifier.verify(tamper(signed, f)), 'signature_invalid', 'sig', `tampered ${f}`)
            }
            // Fields outside the eight are not signed by v1.
            verifier.verify({ ...signed, v_star: [9], regime: 'mixed', attempt: 99, extra: 'x' })
            // A verifier left at the default policy (v2 only) refuses v1.
            const err = throwsKind(() => v2only.verify(signed), 'unsupported_signature_version', 'sig', 'v1 under v2-only')
            assert.equal(err.code, 'ERR_SIGNATURE')
          }
        })
      }
    }
  },

  // v2 (SPEC §3.2): the whole record but its delivery fields, as sent.
  'canonical_v2.json'(file) {
    for (const g of file.testGroups) {
      const verifier = keyed(g)
      for (const t of g.tests) {
        test(`canonical_v2 ${label('', t)}`, () => {
          const e = t.expected
          assert.equal(t.result, 'valid')
          for (const [route, rec] of [['record_text', parsePcs(t.record_text)], ['object', t.record]]) {
            const at = `${route} route`
            assert.equal(utf8(canonicalPayload(rec)), e.canonical, `${at}: canonical`)
            assert.deepEqual(canonicalPayload(rec, { version: 2 }), enc(e.canonical), `${at}: canonical bytes`)
            assert.equal(hex(digest(rec)), e.digest_hex, `${at}: digest`)
            assert.equal(signHmac(rec, g.hmac_key), e.sig_hmac, `${at}: hmac`)
            assert.equal(signHmac(rec, enc(g.hmac_key), { version: 2 }), e.sig_hmac, `${at}: hmac, key as bytes`)
            assert.deepEqual(signHmacMany([rec], g.hmac_key), [e.sig_hmac], `${at}: hmac batch`)
            assert.equal(signEd25519(rec, g.ed25519_seed), e.sig_ed25519, `${at}: ed25519`)
            assert.equal(pcsId(rec.merkle_root, rec.epoch, rec.shard_id), e.pcs_id, `${at}: pcs_id`)

            for (const sig of [e.sig_hmac, e.sig_ed25519]) {
              const signed = { ...rec, sig }
              verifier.verify(signed)
              // What JSON.stringify sends parses back to the same signed record.
              verifier.verify(parsePcs(stringify(signed)))
              for (const [what, changed] of tamperings(signed)) {
                throwsKind(() => verifier.verify(changed), 'signature_invalid', 'sig', `${at}: ${what}`)
              }
              // Delivery fields are not signed.
              verifier.verify({ ...signed, attempt: 7, sent_at: '2030-01-01T00:00:00Z', ft: { degraded: true } })
              // Without the prefix it reads as v1, which the policy refuses.
              throwsKind(() => verifier.verify({ ...signed, sig: sig.slice(3) }), 'unsupported_signature_version', 'sig', `${at}: prefix dropped`)
            }
          }
        })
      }
    }
  },

  // SPEC §4.1: the seed's encodings of v1, accepted only where a policy lists them.
  'legacy.json'(file) {
    for (const g of file.testGroups) {
      const v2only = keyed(g)
      const v1only = keyed(g, { versions: ['v1'], acceptEncodings: [] })
      const byEncoding = Object.fromEntries(
        ['seed-python', 'seed-go'].map((enc) => [enc, keyed(g, { versions: ['v1'], acceptEncodings: [enc] })]),
      )
      for (const t of g.tests) {
        test(`legacy ${label('', t)}`, () => {
          const e = t.expected
          assert.equal(t.result, 'valid')
          const accepting = byEncoding[t.encoding]
          assert.ok(accepting, `unknown encoding ${t.encoding}`)
          for (const [route, rec] of [['object', t.record], ['parsed', parsePcs(stringify(t.record))]]) {
            const at = `${route} route`
            assert.equal(utf8(canonicalPayload(rec, { version: 1 })), e.canonical_v1, `${at}: canonical v1`)
            assert.notEqual(e.payload, e.canonical_v1)
            for (const sig of [e.sig_hmac, e.sig_ed25519]) {
              const signed = { ...rec, sig }
              accepting.verify(signed)
              assert.deepEqual(accepting.verifyMany([signed]).map((c) => c.valid), [true])
              throwsKind(() => v1only.verify(signed), 'signature_invalid', 'sig', `${at}: v1, no encodings`)
              throwsKind(() => v2only.verify(signed), 'unsupported_signature_version', 'sig', `${at}: default policy`)
            }
          }
        })
      }
    }
  },

  // SPEC §6.1: the Authorization header of a read.
  'read.json'(file) {
    for (const g of file.testGroups) {
      const verifier = keyed(g)
      for (const t of g.tests) {
        test(`read ${label('', t)}`, () => {
          const at = label('read', t)
          if (t.result === 'valid') {
            const e = t.expected
            assert.equal(hex(readDigest(t.tenant, t.pcs_id, t.t)), e.digest_hex, `${at}: digest`)
            assert.equal(readAuthorization(t.tenant, t.pcs_id, t.t, 'hmac', g.hmac_key), e.authorization_hmac, `${at}: hmac`)
            assert.equal(
              readAuthorization(t.tenant, t.pcs_id, BigInt(t.t), 'hmac', enc(g.hmac_key)),
              e.authorization_hmac,
              `${at}: hmac, key as bytes, t as bigint`,
            )
            assert.equal(readAuthorization(t.tenant, t.pcs_id, t.t, 'ed25519', g.ed25519_seed), e.authorization_ed25519, `${at}: ed25519`)
            for (const header of [e.authorization_hmac, e.authorization_ed25519]) {
              verifier.verifyRead(t.tenant, t.pcs_id, header, t.now)
              // The header names one read: another pcs_id or tenant does not verify.
              throwsKind(() => verifier.verifyRead(t.tenant, `${t.pcs_id}0`, header, t.now), 'signature_invalid', 'sig', `${at}: other pcs_id`)
              throwsKind(() => verifier.verifyRead(`${t.tenant}x`, t.pcs_id, header, t.now), 'signature_invalid', 'sig', `${at}: other tenant`)
            }
          } else {
            assert.equal(t.result, 'invalid')
            const e = throwsKind(() => verifier.verifyRead(t.tenant, t.pcs_id, t.header, t.now), t.error_kind, 'sig', at)
            assert.equal(e.code, 'ERR_SIGNATURE')
          }
        })
      }
    }
  },

  'verify.json'(file) {
    for (const g of file.testGroups) {
      for (const t of g.tests) {
        test(`verify ${label('', t)}`, () => {
          const want = t.expected
          for (const [route, rec] of [['object', t.record], ['parsed', parsePcs(JSON.stringify(t.record))]]) {
            const got = verify(rec, g.params)
            const at = `${route} route`
            assert.equal(got.accepted, want.accepted, `${at}: accepted`)
            assert.equal(got.escalated, want.escalated, `${at}: escalated`)
            for (const k of ['recomputed_D_hat', 'recomputed_budget', 'reason']) {
              assert.equal(got[k], want[k], `${at}: ${k}`)
            }
            assert.equal(t.result === 'valid', got.accepted && !got.escalated, `${at}: result`)
          }
        })
      }
    }
  },

  'ring.json'(file) {
    for (const g of file.testGroups) {
      const ring = Ring.withShards(g.shards, g.vnodes)
      for (const t of g.tests) {
        test(`ring ${label(g.comment ?? '', t)}`, () => {
          const run = () => (t.op === 'pick' ? ring.pick(t.key) : ring.pickN(t.key, t.n))
          if (t.result === 'valid') {
            assert.deepEqual(run(), t.expected)
            assert.deepEqual(t.op === 'pick' ? ring.pick(enc(t.key)) : run(), t.expected)
          } else {
            assert.ok(['pick', 'pick_n'].includes(t.op), `unknown op ${t.op}`)
            const e = throwsKind(run, t.error_kind, undefined, label('ring', t))
            assert.equal(e.code, 'ERR_RING')
          }
        })
      }
    }
  },

  'reject.json'(file) {
    for (const g of file.testGroups) {
      for (const t of g.tests) {
        test(`reject ${label('', t)}`, () => {
          const at = label('reject', t)
          assert.equal(t.result, 'invalid')
          // The same input as a JavaScript object, where JSON.parse can make
          // one that means the same (it keeps the last of duplicate keys, and
          // reads `1.0` as 1, so those are skipped).
          let obj
          try {
            obj = JSON.parse(t.input)
          } catch {}
          const asObject = obj && typeof obj === 'object' && !Array.isArray(obj) && !t.flags.includes('Duplicate')
          switch (t.stage) {
            case 'parse': {
              throwsKind(() => parsePcs(t.input), t.error_kind, t.field, at)
              throwsKind(() => parsePcs(enc(t.input)), t.error_kind, t.field, `${at} (bytes)`)
              if (asObject && !INTEGER_LITERAL_ONLY.test(t.comment)) {
                throwsKind(() => validate(obj), t.error_kind, t.field, `${at} (object)`)
              }
              break
            }
            case 'validate':
              for (const rec of [parsePcs(t.input), obj]) {
                throwsKind(() => validate(rec), t.error_kind, t.field, at)
              }
              break
            case 'sign': // the name of sign_v1 before contract v2
            case 'sign_v1':
              for (const rec of [parsePcs(t.input), obj]) {
                throwsKind(() => canonicalPayload(rec, { version: 1 }), t.error_kind, t.field, at)
                throwsKind(() => signHmac(rec, g.hmac_key, { version: 1 }), t.error_kind, t.field, at)
              }
              break
            case 'sign_v2': {
              // Parsed: an exact integer the v2 payload cannot carry. As an
              // object: JSON.parse has already rounded it, which the SDK refuses
              // naming the same field.
              const parsed = parsePcs(t.input)
              for (const rec of [parsed, obj]) {
                throwsKind(() => canonicalPayload(rec), t.error_kind, t.field, at)
                throwsKind(() => digest(rec, { version: 2 }), t.error_kind, t.field, at)
                throwsKind(() => signHmac(rec, g.hmac_key), t.error_kind, t.field, at)
                throwsKind(() => signHmacMany([rec], g.hmac_key), t.error_kind, t.field, at)
              }
              break
            }
            case 'verify_signature': {
              const policy = t.policy ?? { versions: ['v2'], encodings: [] }
              const verifier = keyed(g, { versions: policy.versions, acceptEncodings: policy.encodings })
              for (const rec of asObject ? [parsePcs(t.input), obj] : [parsePcs(t.input)]) {
                const e = throwsKind(() => verifier.verify(rec), t.error_kind, t.field, at)
                assert.equal(e.code, 'ERR_SIGNATURE')
                const [check] = verifier.verifyMany([rec])
                assert.equal(check.valid, false)
                assert.equal(check.kind, t.error_kind)
                assert.equal(check.code, 'ERR_SIGNATURE')
              }
              break
            }
            case 'key':
              if (t.key_type === 'seed') {
                throwsKind(() => ed25519PublicKey(t.input), t.error_kind, undefined, at)
                throwsKind(() => signEd25519(JSON.parse(MINIMAL), t.input), t.error_kind, undefined, at)
                throwsKind(() => readAuthorization('default', 'p', 1, 'ed25519', t.input), t.error_kind, undefined, at)
              } else if (t.key_type === 'public') {
                throwsKind(() => new Verifier().addEd25519PublicKey(t.input), t.error_kind, undefined, at)
                throwsKind(() => new Verifier().addKey('ed25519', t.input), t.error_kind, undefined, at)
              } else {
                assert.fail(`${at}: unknown key_type ${t.key_type}`)
              }
              break
            default:
              assert.fail(`${at}: unknown stage ${t.stage}`)
          }
        })
      }
    }
  },
}

/** Parse cases about the number's shape in the text, which JSON.parse erases. */
const INTEGER_LITERAL_ONLY = /integer literals only|written .*[0-9][.eE]/
const MINIMAL = '{"pcs_id":"p","schema":"fractal-lba-kakeya","version":"0.1","merkle_root":"m","epoch":1,"shard_id":"s","D_hat":1,"coh_star":0.5,"r":0.5,"budget":0.5}'

test('golden/ holds the files this suite knows, and nothing it would skip', () => {
  assert.deepEqual(files, Object.keys(handlers).sort())
})

for (const name of files) {
  const handler = handlers[name]
  if (handler) handler(load(name))
}
