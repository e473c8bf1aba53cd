// Every case of every file in golden/ (SPEC §8), read through a relative path.
// Each record goes through the SDK twice: as the plain object JSON.parse gives
// (numbers are JavaScript doubles) and as JSON text through the strict parser.
// The expected values come from the files, never from the code under test.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

import {
  Ring,
  Verifier,
  canonicalPayload,
  digest,
  ed25519PublicKey,
  parsePcs,
  pcsId,
  signEd25519,
  signHmac,
  validate,
  verify,
} from '@fractal-lba/client'

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'golden')
const files = readdirSync(GOLDEN).filter((f) => f.endsWith('.json')).sort()

function load(name) {
  const file = JSON.parse(readFileSync(path.join(GOLDEN, name), 'utf8'))
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
      r[field] = `${r[field]}x`
      break
    default:
      r[field] = r[field] === 0.5 ? 0.25 : 0.5
  }
  return r
}
const SIGNED = ['pcs_id', 'merkle_root', 'epoch', 'shard_id', 'D_hat', 'coh_star', 'r', 'budget']

const handlers = {
  'canonical.json'(file) {
    for (const g of file.testGroups) {
      const verifier = new Verifier()
      verifier.addHmacKey(g.hmac_key)
      verifier.addEd25519PublicKey(g.ed25519_public)
      test(`canonical: the group's seed has the group's public key`, () => {
        assert.equal(ed25519PublicKey(g.ed25519_seed), g.ed25519_public)
      })
      for (const t of g.tests) {
        test(`canonical ${label('', t)}`, () => {
          const e = t.expected
          const fromText = parsePcs(JSON.stringify(t.record))
          for (const [route, rec] of [['object', t.record], ['parsed', fromText]]) {
            const at = `${route} route`
            assert.equal(canonicalPayload(rec).toString('utf8'), e.canonical, `${at}: canonical`)
            assert.deepEqual(canonicalPayload(rec), Buffer.from(e.canonical, 'utf8'), `${at}: canonical bytes`)
            assert.equal(digest(rec).toString('hex'), e.digest_hex, `${at}: digest`)
            assert.equal(signHmac(rec, g.hmac_key), e.sig_hmac, `${at}: hmac`)
            assert.equal(signHmac(rec, Buffer.from(g.hmac_key, 'utf8')), e.sig_hmac, `${at}: hmac, key as bytes`)
            assert.equal(signEd25519(rec, g.ed25519_seed), e.sig_ed25519, `${at}: ed25519`)
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
            // Fields outside the eight are not signed.
            verifier.verify({ ...signed, v_star: [9], regime: 'mixed', attempt: 99, extra: 'x' })
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
            assert.deepEqual(t.op === 'pick' ? ring.pick(Buffer.from(t.key, 'utf8')) : run(), t.expected)
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
      const verifier = new Verifier()
      verifier.addHmacKey(g.hmac_key)
      verifier.addEd25519PublicKey(g.ed25519_public)
      for (const t of g.tests) {
        test(`reject ${label('', t)}`, () => {
          const at = label('reject', t)
          assert.equal(t.result, 'invalid')
          switch (t.stage) {
            case 'parse': {
              throwsKind(() => parsePcs(t.input), t.error_kind, t.field, at)
              throwsKind(() => parsePcs(Buffer.from(t.input, 'utf8')), t.error_kind, t.field, `${at} (bytes)`)
              // The same input as a JavaScript object, where JSON.parse can make
              // one (it keeps the last of duplicate keys, so those are skipped).
              let obj
              try {
                obj = JSON.parse(t.input)
              } catch {}
              if (obj && typeof obj === 'object' && !Array.isArray(obj) && !t.flags.includes('Duplicate')) {
                throwsKind(() => validate(obj), t.error_kind, t.field, `${at} (object)`)
              }
              break
            }
            case 'validate':
              for (const rec of [parsePcs(t.input), JSON.parse(t.input)]) {
                throwsKind(() => validate(rec), t.error_kind, t.field, at)
              }
              break
            case 'sign':
              for (const rec of [parsePcs(t.input), JSON.parse(t.input)]) {
                throwsKind(() => canonicalPayload(rec), t.error_kind, t.field, at)
                throwsKind(() => signHmac(rec, g.hmac_key), t.error_kind, t.field, at)
              }
              break
            case 'verify_signature':
              for (const rec of [parsePcs(t.input), JSON.parse(t.input)]) {
                const e = throwsKind(() => verifier.verify(rec), t.error_kind, t.field, at)
                assert.equal(e.code, 'ERR_SIGNATURE')
                const [check] = verifier.verifyMany([rec])
                assert.equal(check.valid, false)
                assert.equal(check.kind, t.error_kind)
              }
              break
            case 'key':
              if (t.key_type === 'seed') {
                throwsKind(() => ed25519PublicKey(t.input), t.error_kind, undefined, at)
                throwsKind(() => signEd25519(JSON.parse('{"pcs_id":"p","merkle_root":"m","epoch":1,"shard_id":"s"}'), t.input), t.error_kind, undefined, at)
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

test('golden/ holds the four files this suite knows, and nothing it would skip', () => {
  assert.deepEqual(files, Object.keys(handlers).sort())
})

for (const name of files) {
  const handler = handlers[name]
  if (handler) handler(load(name))
}
