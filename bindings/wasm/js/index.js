// @fractal-lba/client for browsers: the Rust core compiled to WebAssembly,
// with the Node SDK's API (same names, same records, same error codes).
//
// Records cross into the module as JSON text and are parsed there by the
// core's strict parser, exactly as the server parses a request body, so a
// record signs here as it will verify there. Integers beyond 2^53−1 travel as
// bigint both ways.
//
// The `Client` is a thin transport: the core builds each request, reads each
// answer and decides whether to retry and how long to wait; this file only
// calls `fetch`, sleeps and honours an AbortSignal.

import init, * as core from './fractal_wasm.js'

await init({ module_or_path: new URL('./fractal_wasm_bg.wasm', import.meta.url) })

const encoder = new TextEncoder()

/** An `ERR_INVALID_ARGUMENT` shaped like the core's. */
function argError(name, reason) {
  const e = new Error(`invalid argument \`${name}\`: ${reason}`)
  e.code = 'ERR_INVALID_ARGUMENT'
  e.kind = 'invalid_argument'
  e.field = name
  return e
}

/** An `ERR_INVALID_FIELD` shaped like the core's, naming the field's path. */
function fieldError(path, reason) {
  const e = new Error(`invalid field \`${path}\`: ${reason}`)
  e.code = 'ERR_INVALID_FIELD'
  e.kind = 'invalid_field'
  e.field = path
  return e
}

/** The integer fields of a record, where −0 is just 0. */
const INTEGER_FIELD = /^(epoch|attempt|seed|scales\[\d+\]|N_j\..*|ft\.(outbox_seq|clock_skew_ms))$/

/**
 * JSON text of a value: bigints written as integers (losing nothing), −0 as
 * `-0.0` (the seed's v1 encodings tell it from 0), NaN and ±Infinity refused
 * naming the field (JSON has no such numbers; JSON.stringify would send null).
 */
function toJson(value, path = '', seen = new Set()) {
  switch (typeof value) {
    case 'bigint':
      return value.toString()
    case 'number':
      if (!Number.isFinite(value)) throw fieldError(path || 'value', `must be a finite number (JSON has no ${value})`)
      return Object.is(value, -0) && !INTEGER_FIELD.test(path) ? '-0.0' : JSON.stringify(value)
    case 'string':
    case 'boolean':
      return JSON.stringify(value)
    case 'object': {
      if (value === null) return 'null'
      if (typeof value.toJSON === 'function') return toJson(value.toJSON(), path, seen)
      if (seen.has(value)) throw fieldError(path || 'value', 'holds a cycle')
      seen.add(value)
      const skip = (x) => x === undefined || typeof x === 'function' || typeof x === 'symbol'
      let out
      if (Array.isArray(value)) {
        out = '[' + value.map((x, i) => (skip(x) ? 'null' : toJson(x, `${path}[${i}]`, seen))).join(',') + ']'
      } else {
        const parts = []
        for (const k of Object.keys(value)) {
          if (!skip(value[k])) parts.push(JSON.stringify(k) + ':' + toJson(value[k], path ? `${path}.${k}` : k, seen))
        }
        out = '{' + parts.join(',') + '}'
      }
      seen.delete(value)
      return out
    }
    default:
      return 'null'
  }
}

/** Parses JSON the core wrote; integers beyond 2^53−1 become bigint. */
function fromJson(text) {
  return JSON.parse(text, (_key, value, context) => {
    if (typeof value === 'number' && !Number.isSafeInteger(value) && context && /^-?\d+$/.test(context.source)) {
      return BigInt(context.source)
    }
    return value
  })
}

function plainObject(v, name) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw argError(name, 'must be an object')
  }
  return v
}

/** A record as the UTF-8 bytes of its JSON text. */
function recordBytes(record, name = 'record') {
  return encoder.encode(toJson(plainObject(record, name)))
}

function textOrBytes(v, name) {
  if (typeof v === 'string') return encoder.encode(v)
  if (v instanceof Uint8Array) return v
  if (v instanceof ArrayBuffer) return new Uint8Array(v)
  throw argError(name, 'must be a string or a Uint8Array')
}

function text(v, name) {
  if (typeof v !== 'string') throw argError(name, 'must be a string')
  return v
}

function signVersion(options) {
  if (options === undefined || options === null) return 2
  const v = plainObject(options, 'options').version
  if (v === undefined) return 2
  if (v !== 1 && v !== 2) throw argError('version', `signature version must be 1 or 2, not ${String(v)}`)
  return v
}

const PARAM_NAMES = { tolD: 'tol_d', tolCoh: 'tol_coh', budgetTol: 'budget_tol' }

/** VerifyParams with the Node SDK's camelCase names (snake_case accepted too). */
function paramsJson(params) {
  if (params === undefined || params === null) return undefined
  const out = {}
  for (const [k, v] of Object.entries(plainObject(params, 'params'))) {
    if (v !== undefined) out[PARAM_NAMES[k] ?? k] = v
  }
  return toJson(out)
}

/** Adds `index` (and the position to the message) to the error of a batch item. */
function atIndex(e, i) {
  if (e && typeof e === 'object' && 'code' in e && e.index === undefined) {
    e.message = `records[${i}]: ${e.message}`
    e.index = i
  }
  return e
}

function batch(records, name = 'records') {
  if (!Array.isArray(records)) throw argError(name, 'must be an array')
  return records
}

/** The version of the Rust core inside this module. */
export function coreVersion() {
  return core.coreVersion()
}

export function parsePcs(json) {
  return fromJson(core.parsePcs(textOrBytes(json, 'json')))
}

export function buildPcs(input, params) {
  return fromJson(core.buildPcs(recordBytes(input, 'input'), paramsJson(params)))
}

export function validate(record) {
  core.validate(recordBytes(record))
}

export function verify(record, params) {
  return JSON.parse(core.verify(recordBytes(record), paramsJson(params)))
}

export function verifyMany(records, params) {
  const p = paramsJson(params)
  return batch(records).map((r, i) => {
    try {
      return JSON.parse(core.verify(recordBytes(r), p))
    } catch (e) {
      throw atIndex(e, i)
    }
  })
}

export function pcsId(merkleRoot, epoch, shardId) {
  return core.pcsId(text(merkleRoot, 'merkleRoot'), epoch, text(shardId, 'shardId'))
}

export function canonicalPayload(record, options) {
  return core.canonicalPayload(recordBytes(record), signVersion(options))
}

export function digest(record, options) {
  return core.digest(recordBytes(record), signVersion(options))
}

export function signHmac(record, key, options) {
  return core.signHmac(recordBytes(record), textOrBytes(key, 'key'), signVersion(options))
}

export function signHmacMany(records, key, options) {
  const k = textOrBytes(key, 'key')
  const v = signVersion(options)
  return batch(records).map((r, i) => {
    try {
      return core.signHmac(recordBytes(r), k, v)
    } catch (e) {
      throw atIndex(e, i)
    }
  })
}

export async function signHmacManyAsync(records, key, options) {
  return signHmacMany(records, key, options)
}

export function signEd25519(record, seed, options) {
  return core.signEd25519(recordBytes(record), text(seed, 'seed'), signVersion(options))
}

export function ed25519PublicKey(seed) {
  return core.ed25519PublicKey(text(seed, 'seed'))
}

export function generateEd25519Keypair() {
  const [seed, publicKey] = core.generateEd25519Keypair()
  return { seed, publicKey }
}

export function readDigest(tenant, pcsId, t) {
  return core.readDigest(text(tenant, 'tenant'), text(pcsId, 'pcsId'), t)
}

export function readAuthorization(tenant, pcsId, t, alg, key) {
  return core.readAuthorization(text(tenant, 'tenant'), text(pcsId, 'pcsId'), t, text(alg, 'alg'), textOrBytes(key, 'key'))
}

/** `{ versions, acceptEncodings }` → the core's names. */
function policyArgs(options) {
  let versions = ['v2']
  let encodings = []
  if (options === undefined || options === null) return [versions, encodings]
  plainObject(options, 'options')
  for (const k of Object.keys(options)) {
    if (k !== 'versions' && k !== 'acceptEncodings') {
      throw argError(k, 'unknown option (`versions`, `acceptEncodings`)')
    }
  }
  if (options.versions !== undefined) {
    versions = batch(options.versions, 'versions').map((v, i) => {
      if (v === 1 || v === 'v1') return 'v1'
      if (v === 2 || v === 'v2') return 'v2'
      throw argError(`versions[${i}]`, `unknown signature version ${JSON.stringify(String(v))} (1, 2, 'v1', 'v2')`)
    })
    if (versions.length === 0) throw argError('versions', 'must list at least one version (1 or 2)')
  }
  if (options.acceptEncodings !== undefined) {
    encodings = batch(options.acceptEncodings, 'acceptEncodings').map((e, i) => text(e, `acceptEncodings[${i}]`))
  }
  return [versions, encodings]
}

/** Holds verification keys and checks records' `sig` under a signature policy. */
export class Verifier {
  #inner
  constructor(options) {
    this.#inner = new core.Verifier()
    this.#inner.setPolicy(...policyArgs(options))
  }
  get policy() {
    return JSON.parse(this.#inner.policy)
  }
  setPolicy(options) {
    if (options === undefined || options === null) throw argError('options', 'must be an object')
    this.#inner.setPolicy(...policyArgs(options))
  }
  addHmacKey(key) {
    this.#inner.addHmacKey(textOrBytes(key, 'key'))
  }
  addEd25519PublicKey(publicKey) {
    this.#inner.addEd25519PublicKey(text(publicKey, 'publicKey'))
  }
  addKey(alg, key) {
    switch (alg) {
      case 'hmac':
        return this.addHmacKey(text(key, 'key'))
      case 'ed25519':
        return this.addEd25519PublicKey(text(key, 'key'))
      default:
        throw argError('alg', `must be "hmac" or "ed25519", not ${JSON.stringify(String(alg))}`)
    }
  }
  get size() {
    return this.#inner.size
  }
  verify(record) {
    this.#inner.verify(recordBytes(record))
  }
  verifyMany(records) {
    return batch(records).map((r) => {
      try {
        this.#inner.verify(recordBytes(r))
        return { valid: true }
      } catch (e) {
        if (!e || typeof e.code !== 'string') throw e
        const out = { valid: false, code: e.code, kind: e.kind, message: e.message }
        if (e.field !== undefined) out.field = e.field
        return out
      }
    })
  }
  async verifyManyAsync(records) {
    return this.verifyMany(records)
  }
  /** Checks a read's `Authorization` header (SPEC §6.1) at unix time `now` (seconds). */
  verifyRead(tenant, pcsId, authorization, now = Math.floor(Date.now() / 1000)) {
    this.#inner.verifyRead(text(tenant, 'tenant'), text(pcsId, 'pcsId'), authorization ?? undefined, now)
  }
}

function vnodesArg(vnodes) {
  if (vnodes === undefined) return 150
  if (!Number.isInteger(vnodes) || vnodes < 0 || vnodes > 0xffffffff) throw argError('vnodes', 'must be a whole number')
  return vnodes
}

function keyBytes(key) {
  return textOrBytes(key, 'key')
}

/** The consistent-hash ring of SPEC §7. */
export class Ring {
  #inner
  constructor(vnodes) {
    this.#inner = vnodes instanceof core.Ring ? vnodes : new core.Ring(vnodesArg(vnodes))
  }
  static withShards(shards, vnodes) {
    return new Ring(core.Ring.withShards(toJson(batch(shards, 'shards')), vnodesArg(vnodes)))
  }
  addShard(name, weight = 1) {
    if (!Number.isInteger(weight) || weight < 0) throw argError('weight', 'must be a whole number ≥ 1')
    this.#inner.addShard(text(name, 'name'), weight)
  }
  removeShard(name) {
    this.#inner.removeShard(text(name, 'name'))
  }
  setHealthy(name, healthy) {
    this.#inner.setHealthy(text(name, 'name'), Boolean(healthy))
  }
  pick(key) {
    return this.#inner.pick(keyBytes(key))
  }
  pickN(key, n) {
    if (!Number.isInteger(n) || n < 0) throw argError('n', 'must be a whole number')
    return this.#inner.pickN(keyBytes(key), n)
  }
  plan(after, keys) {
    if (!(after instanceof Ring)) throw argError('after', 'must be a Ring')
    const moves = JSON.parse(this.#inner.plan(after.#inner, batch(keys, 'keys').map((k, i) => text(k, `keys[${i}]`))))
    return moves.map((m) => {
      const out = { key: m.key }
      if (m.from != null) out.from = m.from
      if (m.to != null) out.to = m.to
      return out
    })
  }
  shards() {
    return JSON.parse(this.#inner.shards())
  }
  stats() {
    const s = JSON.parse(this.#inner.stats())
    return { shards: s.shards, healthyShards: s.healthy_shards, points: s.points, vnodes: s.vnodes }
  }
}

function abortError(signal) {
  const e = new DOMException('The operation was aborted', 'AbortError')
  try {
    Object.defineProperty(e, 'code', { value: 'ABORT_ERR', enumerable: true })
  } catch {}
  e.kind = 'aborted'
  e.status = null
  e.cause = signal?.reason
  return e
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal))
    const onAbort = () => {
      clearTimeout(timer)
      reject(abortError(signal))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

const RETRY_NAMES = {
  maxRetries: 'max_retries',
  baseDelayMs: 'base_delay_ms',
  maxDelayMs: 'max_delay_ms',
  maxRetryAfterMs: 'max_retry_after_ms',
}

const CLIENT_OPTIONS = new Set([
  'baseUrl', 'tenant', 'alg', 'key', 'timeoutMs', 'connectTimeoutMs', 'retry', 'jitterSeed', 'signatureVersion',
])

function positiveMs(v, name, dflt) {
  if (v === undefined) return dflt
  if (!Number.isFinite(v) || v <= 0) throw argError(name, 'must be a positive number of milliseconds')
  return v
}

/**
 * A client of the Fractal LBA server over `fetch`. The server must list the
 * page's origin in the tenant's `cors_origins` (see docs/server.md).
 */
export class Client {
  #core
  #timeoutMs
  #jitterSeed
  constructor(options) {
    plainObject(options, 'options')
    for (const k of Object.keys(options)) {
      if (!CLIENT_OPTIONS.has(k)) throw argError(k, 'unknown option')
    }
    let retry
    if (options.retry !== undefined) {
      const r = {}
      for (const [k, v] of Object.entries(plainObject(options.retry, 'retry'))) {
        if (!(k in RETRY_NAMES)) throw argError(`retry.${k}`, 'unknown option')
        if (v !== undefined) r[RETRY_NAMES[k]] = v
      }
      retry = toJson(r)
    }
    let version = 2
    if (options.signatureVersion !== undefined) {
      version = options.signatureVersion
      if (version !== 1 && version !== 2) {
        throw argError('signatureVersion', `signature version must be 1 or 2, not ${String(version)}`)
      }
    }
    this.#timeoutMs = positiveMs(options.timeoutMs, 'timeoutMs', 10_000)
    positiveMs(options.connectTimeoutMs, 'connectTimeoutMs', 5_000) // fetch has no separate connect timeout
    if (options.jitterSeed !== undefined) {
      if (typeof options.jitterSeed !== 'bigint' && !Number.isSafeInteger(options.jitterSeed)) {
        throw argError('jitterSeed', 'must be a whole number or a bigint')
      }
      this.#jitterSeed = BigInt.asUintN(64, BigInt(options.jitterSeed))
    }
    this.#core = new core.ClientCore(
      text(options.baseUrl, 'baseUrl'),
      options.tenant === undefined ? undefined : text(options.tenant, 'tenant'),
      options.alg === undefined ? undefined : text(options.alg, 'alg'),
      options.key === undefined ? undefined : textOrBytes(options.key, 'key'),
      retry,
      version,
    )
  }

  /** Validates, signs when the client has a key, and submits, retrying per the protocol. */
  async submit(record, options) {
    const call = this.#core.submit(recordBytes(record), this.#jitterSeed)
    return fromJson(await this.#drive(call, options?.signal))
  }

  /** The stored outcome of `pcsId` for this client's tenant, `null` if none (404). */
  async get(pcsId, options) {
    const call = this.#core.get(text(pcsId, 'pcsId'), Math.floor(Date.now() / 1000), this.#jitterSeed)
    try {
      return fromJson(await this.#drive(call, options?.signal)).result
    } catch (e) {
      if (e && e.notFound === true) return null
      throw e
    }
  }

  /** Whether the server answers `GET /health` with 200. */
  async health(options) {
    const call = this.#core.health(this.#jitterSeed)
    const signal = options?.signal
    for (;;) {
      const answer = await this.#attempt(call, signal)
      if (answer.ok !== undefined) return answer.status === 200
      // A transport failure: the protocol decides whether to try again.
      const delay = call.onTransportError(answer.reason, answer.timeout)
      if (delay < 0) call.finish()
      await sleep(delay, signal)
    }
  }

  /** One attempt: `{ok, status, headers, body}` or `{reason, timeout}`. */
  async #attempt(call, signal) {
    if (signal?.aborted) throw abortError(signal)
    const headers = new Headers()
    const flat = call.headers
    for (let i = 0; i < flat.length; i += 2) {
      // The browser sets its own User-Agent.
      if (flat[i].toLowerCase() !== 'user-agent') headers.append(flat[i], flat[i + 1])
    }
    const timeout = AbortSignal.timeout(this.#timeoutMs)
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout
    try {
      const body = call.body
      const res = await fetch(call.url, {
        method: call.method,
        headers,
        body: body.length ? body : undefined,
        signal: both,
        mode: 'cors',
        credentials: 'omit',
        cache: 'no-store',
      })
      const bytes = new Uint8Array(await res.arrayBuffer())
      const pairs = []
      res.headers.forEach((v, k) => pairs.push(k, v))
      return { ok: res.ok, status: res.status, headers: pairs, body: bytes }
    } catch (e) {
      if (signal?.aborted) throw abortError(signal)
      if (timeout.aborted) return { reason: `no answer within ${this.#timeoutMs} ms`, timeout: true }
      return { reason: String(e?.message ?? e), timeout: false }
    }
  }

  async #drive(call, signal) {
    for (;;) {
      const answer = await this.#attempt(call, signal)
      const delay =
        answer.ok === undefined
          ? call.onTransportError(answer.reason, answer.timeout)
          : call.onResponse(answer.status, answer.headers, answer.body)
      if (delay < 0) return call.finish()
      await sleep(delay, signal)
    }
  }
}
