// The Client against a scripted loopback server (node:http on port 0): what it
// sends (signed bodies, headers), the retry rules (Retry-After, give-up, never
// 400/401), per-attempt timeouts, AbortSignal cancellation and the error shapes.
// The scripted server checks signatures with the SDK's Verifier, an independent
// path from the client's signing (the request body is parsed by the core's
// strict parser and verified against keys the test holds).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { getEventListeners } from 'node:events'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { Client, Verifier, buildPcs, coreVersion, generateEd25519Keypair, parsePcs, signHmac } = require('../index.js')
const PKG = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

const OK = { accepted: true, escalated: false, recomputed_D_hat: 0.866733469, recomputed_budget: 0.285 }
const ESCALATED = { accepted: true, escalated: true, reason: 'regime mismatch' }
const err = (code, message) => JSON.stringify({ error: { code, message } })

const record = (epoch = 1) =>
  buildPcs({
    merkle_root: 'a'.repeat(64),
    epoch,
    shard_id: 'shard-001',
    scales: [2, 4, 8, 16, 32],
    N_j: { 2: 3, 4: 5, 8: 9, 16: 17, 32: 31 },
    coh_star: 0.73,
    r: 0.87,
  })

/**
 * A loopback HTTP server answering each request with the next step of `script`:
 * `{ status, headers?, body?, delayMs? }`, or a function `(seen) => step`.
 * Every request is recorded (time, method, path, headers, body, and whether
 * the client closed it before the answer).
 */
async function scripted(script) {
  const seen = []
  const timers = new Set()
  let i = 0
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const entry = {
        at: performance.now(),
        method: req.method,
        path: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks),
        closedEarly: false,
      }
      seen.push(entry)
      res.on('close', () => {
        if (!res.writableFinished) entry.closedEarly = true
      })
      let step = script[Math.min(i++, script.length - 1)]
      if (typeof step === 'function') step = step(entry)
      const answer = () => {
        if (res.destroyed) return
        const body = step.body === undefined ? '' : typeof step.body === 'string' ? step.body : JSON.stringify(step.body)
        res.writeHead(step.status, { 'Content-Type': 'application/json', ...(step.headers ?? {}) })
        res.end(body)
      }
      if (step.delayMs) {
        const t = setTimeout(() => {
          timers.delete(t)
          answer()
        }, step.delayMs)
        timers.add(t)
      } else answer()
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    close() {
      for (const t of timers) clearTimeout(t)
      server.closeAllConnections()
      server.close()
    },
  }
}

const fast = { maxRetries: 3, baseDelayMs: 5, maxDelayMs: 20 }

test('submit signs with HMAC: the server verifies the body, and the headers name the SDK and tenant', async (t) => {
  const verifier = new Verifier()
  verifier.addHmacKey('s3cret')
  let verified = null
  const srv = await scripted([
    (req) => {
      try {
        verifier.verify(parsePcs(req.body))
        verified = true
      } catch (e) {
        verified = e
      }
      return { status: 200, body: OK }
    },
  ])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url, tenant: 'acme', alg: 'hmac', key: 's3cret' })
  const rec = record()
  const out = await client.submit(rec)
  assert.deepEqual(out, { status: 200, result: OK, dedupHit: false })
  assert.equal(verified, true)
  assert.equal(srv.seen.length, 1)
  const [req] = srv.seen
  assert.equal(req.method, 'POST')
  assert.equal(req.path, '/v1/pcs/submit')
  assert.equal(req.headers['content-type'], 'application/json')
  assert.equal(req.headers['x-tenant-id'], 'acme')
  assert.equal(req.headers['user-agent'], `fractal-lba-node/${PKG.version} (core ${coreVersion()})`)
  const sent = JSON.parse(req.body)
  assert.equal(sent.pcs_id, rec.pcs_id)
  assert.equal(sent.sig, signHmac(rec, 's3cret'))
  assert.equal(rec.sig, undefined, 'the caller\'s record is not modified')
})

test('submit signs with Ed25519: the server verifies with the public key only', async (t) => {
  const keys = generateEd25519Keypair()
  const verifier = new Verifier()
  verifier.addEd25519PublicKey(keys.publicKey)
  const other = new Verifier()
  other.addEd25519PublicKey(generateEd25519Keypair().publicKey)
  let checked = null
  const srv = await scripted([
    (req) => {
      try {
        const got = parsePcs(req.body)
        verifier.verify(got)
        assert.throws(() => other.verify(got), { code: 'ERR_SIGNATURE' })
        checked = true
      } catch (e) {
        checked = e
      }
      return { status: 202, body: ESCALATED, headers: { 'X-Dedup': 'hit' } }
    },
  ])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url, alg: 'ed25519', key: keys.seed })
  const out = await client.submit(record())
  assert.equal(checked, true)
  assert.deepEqual(out, { status: 202, result: ESCALATED, dedupHit: true })
  assert.equal(srv.seen[0].headers['x-tenant-id'], undefined, 'no tenant header without a tenant')
})

test('submit without a key sends a presigned record as is', async (t) => {
  const srv = await scripted([{ status: 200, body: OK }])
  t.after(() => srv.close())
  const rec = record()
  const sig = signHmac(rec, 'elsewhere')
  await new Client({ baseUrl: srv.url }).submit({ ...rec, sig })
  assert.equal(JSON.parse(srv.seen[0].body).sig, sig)
})

test('503 then 429 with Retry-After are retried after the asked delay, then 200', async (t) => {
  const srv = await scripted([
    { status: 503, headers: { 'Retry-After': '1' }, body: err('store_unavailable', 'try later') },
    { status: 429, headers: { 'Retry-After': '1' }, body: err('rate_limited', 'slow down') },
    { status: 200, body: OK },
  ])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url, alg: 'hmac', key: 'k', retry: fast })
  const out = await client.submit(record())
  assert.equal(out.status, 200)
  assert.equal(srv.seen.length, 3)
  for (let k = 1; k < 3; k++) {
    const gap = srv.seen[k].at - srv.seen[k - 1].at
    assert.ok(gap >= 950, `Retry-After not honoured: ${gap} ms`)
  }
  // Every attempt sends the same bytes (idempotent by pcs_id).
  assert.deepEqual(srv.seen[2].body, srv.seen[0].body)
})

test('gives up after maxRetries: 503 → ERR_API with status, serverCode and body', async (t) => {
  const body = err('store_unavailable', 'try later')
  const srv = await scripted([{ status: 503, body }])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url, retry: { ...fast, maxRetries: 2 } })
  await assert.rejects(client.submit(record()), (e) => {
    assert.equal(e.code, 'ERR_API')
    assert.equal(e.kind, 'api')
    assert.equal(e.status, 503)
    assert.equal(e.serverCode, 'store_unavailable')
    assert.equal(e.body, body)
    assert.ok(e instanceof Error)
    return true
  })
  assert.equal(srv.seen.length, 3)
})

test('gives up after maxRetries: 429 → ERR_RATE_LIMITED with retryAfterMs', async (t) => {
  const srv = await scripted([{ status: 429, headers: { 'Retry-After': '0' }, body: err('rate_limited', 'slow down') }])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url, retry: { ...fast, maxRetries: 1 } })
  await assert.rejects(client.submit(record()), {
    code: 'ERR_RATE_LIMITED',
    kind: 'rate_limited',
    status: 429,
    retryAfterMs: 0,
    message: /slow down/,
  })
  assert.equal(srv.seen.length, 2)
})

test('a Retry-After beyond maxRetryAfterMs ends the call instead of sleeping', async (t) => {
  const srv = await scripted([{ status: 429, headers: { 'Retry-After': '120' }, body: err('rate_limited', 'quota') }])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url, retry: { ...fast, maxRetryAfterMs: 1000 } })
  await assert.rejects(client.submit(record()), { code: 'ERR_RATE_LIMITED', retryAfterMs: 120000 })
  assert.equal(srv.seen.length, 1)
})

test('401 → ERR_SIGNATURE and 400 → ERR_VALIDATION, never retried', async (t) => {
  for (const [status, body, code, kind] of [
    [401, err('signature_invalid', 'does not verify'), 'ERR_SIGNATURE', 'signature'],
    [400, err('invalid_field', 'invalid field `r`'), 'ERR_VALIDATION', 'invalid'],
    [403, err('unknown_tenant', 'no such tenant'), 'ERR_API', 'api'],
  ]) {
    const srv = await scripted([{ status, body }, { status: 200, body: OK }])
    t.after(() => srv.close())
    const client = new Client({ baseUrl: srv.url, alg: 'hmac', key: 'k', retry: fast })
    await assert.rejects(client.submit(record()), (e) => {
      assert.equal(e.code, code)
      assert.equal(e.kind, kind)
      assert.equal(e.status, status)
      assert.equal(e.serverCode, JSON.parse(body).error.code)
      return true
    })
    assert.equal(srv.seen.length, 1, `${status} was retried`)
  }
})

test('an answer that is not a VerifyResult is ERR_API, not a crash', async (t) => {
  const srv = await scripted([{ status: 200, body: 'not json' }])
  t.after(() => srv.close())
  await assert.rejects(new Client({ baseUrl: srv.url }).submit(record()), {
    code: 'ERR_API',
    status: 200,
    serverCode: 'invalid_response',
    body: 'not json',
  })
})

test('timeoutMs bounds each attempt: a slow attempt is retried, and all slow → ERR_TIMEOUT', async (t) => {
  const slow = { status: 200, body: OK, delayMs: 5000 }
  const once = await scripted([slow, { status: 200, body: OK }])
  t.after(() => once.close())
  const client = new Client({ baseUrl: once.url, timeoutMs: 200, retry: fast })
  const out = await client.submit(record())
  assert.equal(out.status, 200)
  assert.equal(once.seen.length, 2)
  assert.ok(once.seen[1].at - once.seen[0].at >= 100, 'the first attempt was not given its timeout')

  const always = await scripted([slow])
  t.after(() => always.close())
  const started = performance.now()
  const c2 = new Client({ baseUrl: always.url, timeoutMs: 200, retry: { ...fast, maxRetries: 1 } })
  await assert.rejects(c2.submit(record()), { code: 'ERR_TIMEOUT', kind: 'timeout', status: null })
  assert.equal(always.seen.length, 2)
  assert.ok(performance.now() - started < 4000, 'the timeout did not cut the slow answers short')
})

test('a refused connection is ERR_TRANSPORT (retried, then given up)', async () => {
  // A port that was just free: nothing listens there.
  const probe = http.createServer()
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = probe.address().port
  await new Promise((resolve) => probe.close(resolve))
  const client = new Client({ baseUrl: `http://127.0.0.1:${port}`, retry: { maxRetries: 1, baseDelayMs: 1 } })
  await assert.rejects(client.submit(record()), { code: 'ERR_TRANSPORT', kind: 'transport', status: null })
  await assert.rejects(client.health(), { code: 'ERR_TRANSPORT' })
})

test('AbortSignal: aborting a call in flight rejects promptly with AbortError and closes the request', async (t) => {
  const srv = await scripted([{ status: 200, body: OK, delayMs: 10000 }])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url })
  const ac = new AbortController()
  const reason = new Error('user went away')
  const started = performance.now()
  setTimeout(() => ac.abort(reason), 100)
  await assert.rejects(client.submit(record(), { signal: ac.signal }), (e) => {
    assert.equal(e.name, 'AbortError')
    assert.equal(e.code, 'ABORT_ERR')
    assert.equal(e.kind, 'aborted')
    assert.equal(e.cause, reason)
    return true
  })
  assert.ok(performance.now() - started < 3000, 'the abort was not prompt')
  assert.equal(srv.seen.length, 1)
  // The Rust future was dropped: its connection closes before any answer.
  for (let i = 0; i < 100 && !srv.seen[0].closedEarly; i++) await new Promise((r) => setTimeout(r, 20))
  assert.ok(srv.seen[0].closedEarly, 'the request was not cancelled')
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'the abort listener was left behind')
})

test('AbortSignal: aborting during a retry wait stops the retries', async (t) => {
  const srv = await scripted([{ status: 503, headers: { 'Retry-After': '30' }, body: err('store_unavailable', 'later') }])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url })
  const started = performance.now()
  await assert.rejects(client.get(record().pcs_id, { signal: AbortSignal.timeout(150) }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  })
  assert.ok(performance.now() - started < 3000, 'the abort was not prompt')
  await new Promise((r) => setTimeout(r, 100))
  assert.equal(srv.seen.length, 1)
})

test('AbortSignal: an already aborted signal rejects and sends nothing', async (t) => {
  const srv = await scripted([{ status: 200, body: OK }])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url })
  const signal = AbortSignal.abort('stop')
  await assert.rejects(client.submit(record(), { signal }), { name: 'AbortError', code: 'ABORT_ERR', cause: 'stop' })
  await assert.rejects(client.get('abc', { signal }), { code: 'ABORT_ERR' })
  await assert.rejects(client.health({ signal }), { code: 'ABORT_ERR' })
  assert.equal(srv.seen.length, 0)
})

test('AbortSignal: finished calls remove their listener; bad call options reject (not throw) naming the option', async (t) => {
  const srv = await scripted([{ status: 200, body: OK }])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url })
  const ac = new AbortController()
  for (let i = 0; i < 3; i++) assert.equal((await client.submit(record(), { signal: ac.signal })).status, 200)
  assert.equal(await client.health({ signal: ac.signal }), true)
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'finished calls left their listener')
  ac.abort()
  await assert.rejects(client.submit(record(), { signal: 'nope' }), { code: 'ERR_INVALID_ARGUMENT', field: 'signal' })
  await assert.rejects(client.submit(record(), { timeout: 5 }), { code: 'ERR_INVALID_ARGUMENT', field: 'timeout' })
  assert.equal(srv.seen.length, 4)
})

test('get: 200 → the VerifyResult, 404 → null; the tenant is sent', async (t) => {
  const srv = await scripted([
    { status: 200, body: ESCALATED },
    { status: 404, body: err('not_found', 'no such record') },
  ])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url, tenant: 'acme', retry: fast })
  const id = record().pcs_id
  assert.deepEqual(await client.get(id), ESCALATED)
  assert.equal(await client.get(id), null)
  assert.equal(srv.seen.length, 2)
  assert.equal(srv.seen[0].method, 'GET')
  assert.equal(srv.seen[0].path, `/v1/pcs/${id}`)
  assert.equal(srv.seen[0].headers['x-tenant-id'], 'acme')
  await assert.rejects(client.get('../health'), { code: 'ERR_INVALID_ARGUMENT', field: 'pcs_id' })
  await assert.rejects(client.get(42), { code: 'ERR_INVALID_ARGUMENT', field: 'pcsId' })
  assert.equal(srv.seen.length, 2)
})

test('health: 200 → true, 503 → false', async (t) => {
  const srv = await scripted([{ status: 200 }, { status: 503 }])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url })
  assert.equal(await client.health(), true)
  assert.equal(await client.health(), false)
  assert.equal(srv.seen[0].path, '/health')
})

test('an invalid or malformed record rejects with a typed error naming the field, and nothing is sent', async (t) => {
  const srv = await scripted([{ status: 200, body: OK }])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url, alg: 'hmac', key: 'k' })
  const rec = record()
  await assert.rejects(client.submit({ ...rec, r: 1.5 }), { code: 'ERR_VALIDATION', kind: 'validation', field: 'r' })
  await assert.rejects(client.submit({ ...rec, pcs_id: 'f'.repeat(64) }), { code: 'ERR_VALIDATION', field: 'pcs_id' })
  await assert.rejects(client.submit({ ...rec, epoch: 1.5 }), { code: 'ERR_INVALID_FIELD', field: 'epoch' })
  const { merkle_root, ...noRoot } = rec
  await assert.rejects(client.submit(noRoot), { code: 'ERR_INVALID_FIELD', field: 'merkle_root' })
  await assert.rejects(client.submit('not a record'), { code: 'ERR_INVALID_ARGUMENT', field: 'record' })
  assert.equal(srv.seen.length, 0)
})

test('the constructor refuses bad options, naming the option', () => {
  const base = { baseUrl: 'http://127.0.0.1:1' }
  const cases = [
    [{}, 'ERR_INVALID_ARGUMENT', 'baseUrl'],
    [{ baseUrl: 'ftp://example' }, 'ERR_INVALID_ARGUMENT', 'baseUrl'],
    [{ ...base, timeout: 5 }, 'ERR_INVALID_ARGUMENT', 'timeout'],
    [{ ...base, alg: 'hmac' }, 'ERR_INVALID_ARGUMENT', 'key'],
    [{ ...base, key: 'k' }, 'ERR_INVALID_ARGUMENT', 'alg'],
    [{ ...base, alg: 'rsa', key: 'k' }, 'ERR_INVALID_ARGUMENT', 'alg'],
    [{ ...base, tenant: 'a b' }, 'ERR_INVALID_ARGUMENT', 'tenant'],
    [{ ...base, timeoutMs: 0 }, 'ERR_INVALID_ARGUMENT', 'timeoutMs'],
    [{ ...base, timeoutMs: '10' }, 'ERR_INVALID_ARGUMENT', 'timeoutMs'],
    [{ ...base, connectTimeoutMs: -1 }, 'ERR_INVALID_ARGUMENT', 'connectTimeoutMs'],
    [{ ...base, retry: { maxRetries: 1.5 } }, 'ERR_INVALID_ARGUMENT', 'retry.maxRetries'],
    [{ ...base, retry: { maxRetry: 1 } }, 'ERR_INVALID_ARGUMENT', 'retry.maxRetry'],
    [{ ...base, jitterSeed: -1n }, 'ERR_INVALID_ARGUMENT', 'jitterSeed'],
  ]
  for (const [options, code, field] of cases) {
    assert.throws(() => new Client(options), { code, field }, JSON.stringify(options, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)))
  }
  assert.throws(() => new Client({ ...base, alg: 'ed25519', key: 'not base64!' }), { code: 'ERR_INVALID_KEY' })
  assert.throws(() => new Client('http://127.0.0.1:1'), { code: 'ERR_INVALID_ARGUMENT', field: 'options' })
  // Valid options, including a bigint seed and a trailing slash.
  new Client({ ...base, baseUrl: 'http://127.0.0.1:1/', jitterSeed: 2n ** 64n - 1n, retry: { maxRetries: 0 } })
})

test('error messages never contain the key', async (t) => {
  const secret = 'top-secret-hmac-key-value'
  const srv = await scripted([{ status: 401, body: err('signature_invalid', 'does not verify') }])
  t.after(() => srv.close())
  const client = new Client({ baseUrl: srv.url, alg: 'hmac', key: secret })
  await assert.rejects(client.submit(record()), (e) => {
    assert.ok(!JSON.stringify({ ...e, message: e.message, stack: e.stack }).includes(secret))
    return true
  })
})
