// The browser Client against a real `fractal serve` on another origin (another
// loopback port): CORS preflight and headers, signed submits and reads, dedup
// (X-Dedup read cross-origin), Retry-After honoured, typed errors, AbortSignal.
// run.mjs starts the server and passes its URL, tenants and keys in `cfg`.

import { Client, buildPcs, pcsId, signHmac, verify } from '@fractal-lba/client'

import { assert, test } from './harness.mjs'

let n = 0
/** A fresh valid record (its own merkle_root, so its own pcs_id). */
function record() {
  const root = `browser-${Date.now()}-${n++}`.padEnd(64, '0')
  return buildPcs({
    merkle_root: root,
    epoch: 7,
    shard_id: 'shard-web',
    scales: [2, 4, 8, 16, 32],
    N_j: { 2: 3, 4: 5, 8: 9, 16: 17, 32: 31 },
    coh_star: 0.73,
    v_star: [0.12, 0.98],
    r: 0.87,
  })
}

async function rejects(promise, check, label) {
  let caught
  try {
    await promise
  } catch (e) {
    caught = e
  }
  assert.ok(caught, `${label}: expected a rejection`)
  check(caught)
  return caught
}

export function register(cfg) {
  const { baseUrl, hmacKey, ed25519Seed } = cfg
  const fast = { maxRetries: 0 }

  test('the page and the server are different origins', () => {
    assert.notEqual(new URL(baseUrl).origin, location.origin)
  })

  test('health over CORS', async () => {
    assert.equal(await new Client({ baseUrl }).health(), true)
  })

  test('unsigned tenant: submit, dedup hit read through X-Dedup, get', async () => {
    const client = new Client({ baseUrl, tenant: 'open' })
    const rec = record()
    const first = await client.submit(rec)
    assert.equal(first.status, 200)
    assert.deepEqual(first.result, verify(rec))
    assert.equal(first.dedupHit, false)
    const again = await client.submit(rec)
    assert.equal(again.dedupHit, true, 'X-Dedup must be exposed to the page')
    assert.deepEqual(again.result, first.result)
    assert.deepEqual(await client.get(rec.pcs_id), first.result)
    assert.equal(await client.get(pcsId('never-submitted', 1, 'x')), null)
  })

  test('HMAC tenant: the browser signs v2, the server verifies; the read is signed', async () => {
    const client = new Client({ baseUrl, tenant: 'signed', alg: 'hmac', key: hmacKey })
    const rec = record()
    const r = await client.submit(rec)
    assert.equal(r.status, 200)
    assert.equal(r.result.accepted, true)
    assert.deepEqual(await client.get(rec.pcs_id), r.result)
    // A record signed beforehand with the same bytes is accepted as is.
    const pre = record()
    const sent = await new Client({ baseUrl, tenant: 'signed' }).submit({ ...pre, sig: signHmac(pre, hmacKey) })
    assert.equal(sent.status, 200)
  })

  test('Ed25519 tenant: submit and signed read', async () => {
    const client = new Client({ baseUrl, tenant: 'ed', alg: 'ed25519', key: ed25519Seed })
    const rec = record()
    assert.equal((await client.submit(rec)).status, 200)
    assert.equal((await client.get(rec.pcs_id)).accepted, true)
  })

  test('server errors reach the page typed: wrong key, v1 on a v2-only tenant, unsigned read', async () => {
    await rejects(
      new Client({ baseUrl, tenant: 'signed', alg: 'hmac', key: 'not-the-key', retry: fast }).submit(record()),
      (e) => {
        assert.equal(e.code, 'ERR_SIGNATURE')
        assert.equal(e.status, 401)
        assert.equal(e.serverCode, 'signature_invalid')
      },
      'wrong key',
    )
    await rejects(
      new Client({ baseUrl, tenant: 'signed', alg: 'hmac', key: hmacKey, signatureVersion: 1 }).submit(record()),
      (e) => assert.equal(e.serverCode, 'unsupported_signature_version'),
      'v1 signature',
    )
    const rec = record()
    await new Client({ baseUrl, tenant: 'signed', alg: 'hmac', key: hmacKey }).submit(rec)
    await rejects(
      new Client({ baseUrl, tenant: 'signed', retry: fast }).get(rec.pcs_id),
      (e) => assert.equal(e.serverCode, 'signature_missing'),
      'unsigned read',
    )
  })

  test('local errors come before any request', async () => {
    const bad = { ...record(), r: 1.5 }
    await rejects(
      new Client({ baseUrl, tenant: 'open' }).submit(bad),
      (e) => {
        assert.equal(e.code, 'ERR_VALIDATION')
        assert.equal(e.field, 'r')
      },
      'invalid record',
    )
  })

  test('429 with Retry-After: waited for and retried; the wait is readable when retries are off', async () => {
    const rec1 = record()
    const rec2 = record()
    const client = new Client({ baseUrl, tenant: 'limited' })
    assert.equal((await client.submit(rec1)).status, 200)
    const e = await rejects(
      new Client({ baseUrl, tenant: 'limited', retry: fast }).submit(rec2),
      (e) => assert.equal(e.code, 'ERR_RATE_LIMITED'),
      'rate limited',
    )
    assert.ok(e.retryAfterMs >= 1000, `Retry-After must be exposed to the page (retryAfterMs ${e.retryAfterMs})`)
    // Retry-After: 1 (rate 1/s, burst 1): the client sleeps it, then succeeds.
    const started = performance.now()
    const r = await client.submit(rec2)
    assert.equal(r.status, 200)
    assert.ok(performance.now() - started >= 900, 'the retry waited for Retry-After')
  })

  test('an origin the tenant does not list cannot read the answer', async () => {
    await rejects(
      new Client({ baseUrl, tenant: 'closed', retry: fast }).submit(record()),
      (e) => assert.equal(e.code, 'ERR_TRANSPORT'),
      'closed tenant',
    )
  })

  test('transport failures are retried, then typed', async () => {
    const dead = `http://127.0.0.1:${cfg.deadPort}`
    const e = await rejects(
      new Client({ baseUrl: dead, retry: { maxRetries: 2, baseDelayMs: 1 } }).submit(record()),
      (e) => assert.equal(e.code, 'ERR_TRANSPORT'),
      'dead port',
    )
    assert.equal(e.kind, 'transport')
  })

  test('AbortSignal: an aborted call rejects with AbortError, also during a backoff', async () => {
    const client = new Client({ baseUrl, tenant: 'open' })
    await rejects(
      client.submit(record(), { signal: AbortSignal.abort('stop') }),
      (e) => {
        assert.equal(e.name, 'AbortError')
        assert.equal(e.cause, 'stop')
      },
      'pre-aborted',
    )
    const dead = `http://127.0.0.1:${cfg.deadPort}`
    const ctl = new AbortController()
    const slow = new Client({ baseUrl: dead, retry: { maxRetries: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 }, jitterSeed: 1 })
    const p = slow.submit(record(), { signal: ctl.signal })
    setTimeout(() => ctl.abort(), 200)
    const started = performance.now()
    await rejects(p, (e) => assert.equal(e.name, 'AbortError'), 'aborted in backoff')
    assert.ok(performance.now() - started < 5000, 'the abort ends the wait')
  })

  test('bad options are refused by name', () => {
    for (const [options, field] of [
      [{ baseUrl: 'ftp://x' }, 'base_url'],
      [{ baseUrl, alg: 'hmac' }, 'key'],
      [{ baseUrl, signatureVersion: 3 }, 'signatureVersion'],
      [{ baseUrl, bogus: 1 }, 'bogus'],
    ]) {
      let caught
      try {
        new Client(options)
      } catch (e) {
        caught = e
      }
      assert.ok(caught, JSON.stringify(options))
      assert.equal(caught.code, 'ERR_INVALID_ARGUMENT')
      assert.equal(caught.field, field)
    }
  })
}
