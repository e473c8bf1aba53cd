#!/usr/bin/env node
// The Node SDK's agent for the cross-SDK end-to-end tests (e2e/): reads ONE
// JSON command from stdin, runs it with @fractal-lba/client (bindings/node),
// and writes ONE JSON object on one line to stdout. Exit code 0 whenever the
// command ran, also when the SDK rejected it; non-zero only if the agent
// itself is broken (unreadable command, unknown op, a bug).
//
// Command: { op: "sign"|"submit"|"get"|"health", url, tenant, alg, key,
//            record, pcs_id, timeout_ms?, retry?: {max_retries, base_delay_ms,
//            max_delay_ms}, jitter_seed? }
// Output:  sign   → {"ok":true,"record":{…signed…}}
//          submit → {"ok":true,"status":200|202,"result":{…},"dedup_hit":bool}
//          get    → {"ok":true,"result":{…}|null}
//          health → {"ok":true,"healthy":bool}
//          error  → {"ok":false,"error":{"type","kind","status","message"}}
//
// Run: echo '{"op":"health","url":"http://127.0.0.1:8080"}' | node e2e/agents/agent.mjs
// Keys are never echoed: errors carry the SDK's messages, which name fields only.

import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const sdk = require('../../bindings/node/index.js')

/** Reads all of stdin as text. */
async function stdin() {
  const chunks = []
  for await (const c of process.stdin) chunks.push(c)
  return Buffer.concat(chunks).toString('utf8')
}

/** Marks a bigint inside JSON text while it is parsed or written. */
const BIG = '\u0000bigint:'
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y

/** Writes the one output line; bigints are written as plain (exact) integers. */
function emit(obj) {
  const text = JSON.stringify(obj, (_, v) => (typeof v === 'bigint' ? BIG + v : v))
  process.stdout.write(text.replace(/"\\u0000bigint:(-?\d+)"/g, '$1') + '\n')
}

/**
 * Parses the command without rounding: integers beyond 2^53−1 (a 64-bit `seed`,
 * say) become bigints, which the SDK accepts for every integer field and which
 * `emit` writes back as plain digits.
 */
function parseCommand(text) {
  let marked = ''
  let i = 0
  while (i < text.length) {
    const ch = text[i]
    if (ch === '"') {
      const start = i++
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1
      marked += text.slice(start, ++i)
      continue
    }
    NUMBER.lastIndex = i
    const m = NUMBER.exec(text)
    if (m) {
      const tok = m[0]
      const integral = /^-?\d+$/.test(tok)
      marked += integral && !Number.isSafeInteger(Number(tok)) ? JSON.stringify(BIG + tok) : tok
      i += tok.length
      continue
    }
    marked += ch
    i++
  }
  const cmd = JSON.parse(marked, (_, v) => (typeof v === 'string' && v.startsWith(BIG) ? BigInt(v.slice(BIG.length)) : v))
  if (cmd === null || typeof cmd !== 'object' || Array.isArray(cmd)) throw new Error('the command is not a JSON object')
  return cmd
}

function clientOf(cmd) {
  const options = { baseUrl: cmd.url }
  if (cmd.tenant != null) options.tenant = cmd.tenant
  if (cmd.alg != null) options.alg = cmd.alg
  if (cmd.key != null) options.key = cmd.key
  if (cmd.timeout_ms != null) options.timeoutMs = cmd.timeout_ms
  if (cmd.retry != null) {
    const r = cmd.retry
    options.retry = {}
    if (r.max_retries != null) options.retry.maxRetries = r.max_retries
    if (r.base_delay_ms != null) options.retry.baseDelayMs = r.base_delay_ms
    if (r.max_delay_ms != null) options.retry.maxDelayMs = r.max_delay_ms
  }
  if (cmd.jitter_seed != null) options.jitterSeed = BigInt(cmd.jitter_seed)
  return new sdk.Client(options)
}

/** Signs the record as given (only the eight signed fields are read) and returns it with `sig`. */
function sign(cmd) {
  const record = cmd.record
  let sig
  if (cmd.alg === 'hmac') sig = sdk.signHmac(record, cmd.key)
  else if (cmd.alg === 'ed25519') sig = sdk.signEd25519(record, cmd.key)
  else {
    const e = new Error(`invalid argument \`alg\`: must be "hmac" or "ed25519" to sign, got ${JSON.stringify(cmd.alg)}`)
    Object.assign(e, { code: 'ERR_INVALID_ARGUMENT', kind: 'invalid_argument', field: 'alg' })
    throw e
  }
  return { ok: true, record: { ...record, sig } }
}

async function run(cmd) {
  switch (cmd.op) {
    case 'sign':
      return sign(cmd)
    case 'submit': {
      const out = await clientOf(cmd).submit(cmd.record)
      return { ok: true, status: out.status, result: out.result, dedup_hit: out.dedupHit }
    }
    case 'get':
      return { ok: true, result: await clientOf(cmd).get(cmd.pcs_id) }
    case 'health':
      return { ok: true, healthy: await clientOf(cmd).health() }
    default:
      throw Object.assign(new Error(`unknown op ${JSON.stringify(cmd.op)}`), { agentBroken: true })
  }
}

/** An SDK error as the contract's error object; null for anything that is not one. */
function sdkError(e) {
  if (!(e instanceof Error) || typeof e.code !== 'string' || typeof e.kind !== 'string') return null
  return {
    type: e.code,
    kind: e.kind,
    status: Number.isInteger(e.status) ? e.status : null,
    message: e.message,
  }
}

let cmd
try {
  cmd = parseCommand(await stdin())
} catch (e) {
  process.stderr.write(`agent: cannot read the command: ${e.message}\n`)
  process.exit(2)
}
try {
  emit(await run(cmd))
} catch (e) {
  const mapped = !e?.agentBroken && sdkError(e)
  if (!mapped) {
    process.stderr.write(`agent: ${e?.stack ?? e}\n`)
    process.exit(2)
  }
  emit({ ok: false, error: mapped })
}
