// The examples are documentation: they must run and say what they claim.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(import.meta.url)
const { Verifier, parsePcs } = require('../index.js')

const HERE = path.dirname(fileURLToPath(import.meta.url))
const EXAMPLES = path.join(HERE, '..', 'examples')
const run = (file) => execFileSync(process.execPath, [path.join(EXAMPLES, file)], { encoding: 'utf8', env: { PATH: process.env.PATH } })
/** Runs an example asynchronously (the test's own server must keep serving meanwhile). */
const runWith = (file, env) =>
  new Promise((resolve, reject) =>
    execFile(process.execPath, [path.join(EXAMPLES, file)], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${file} failed: ${stderr}`)) : resolve(stdout),
    ),
  )

test('examples/sign_and_verify.mjs accepts its own record', () => {
  assert.match(run('sign_and_verify.mjs'), /accepted=true escalated=false/)
})

test('examples/errors.cjs shows the code, kind, field and index', () => {
  assert.equal(
    run('errors.cjs'),
    'ERR_INVALID_FIELD invalid_field epoch\n' +
      'invalid field `epoch`: expected an integer, got 1.5\n' +
      'ERR_INVALID_FIELD epoch 1\n' +
      'ERR_INVALID_ARGUMENT version\n' +
      'ERR_SIGNATURE unsupported_signature_version\n',
  )
})

test('examples/signature_versions.mjs: v2 signs unknown fields and the regime, v1 needs a policy, reads are signed', () => {
  assert.equal(
    run('signature_versions.mjs'),
    'v2 verified; agent kept: {"build":42,"host":"node-7"}\n' +
      'regime changed: ERR_SIGNATURE signature_invalid\n' +
      'v1 under the default policy: unsupported_signature_version\n' +
      'migrating verifier accepts v1: {"versions":["v1","v2"],"acceptEncodings":["seed-python"]}\n' +
      'read header: Fractal t=1700000000, sig=…\n',
  )
})

test('examples/ring.mjs moves keys only to the new shard', () => {
  assert.match(run('ring.mjs'), /all to \[ 'shard-d' \]/)
})

const SUBMIT_OUTPUT = /^submitted [0-9a-f]{64}: 200 accepted=true escalated=false dedup=false\nsubmitted again: 200 dedup=true\nstored outcome: accepted=true escalated=false\n$/

test('examples/submit.mjs signs and submits, sees the duplicate, reads the outcome back (scripted server)', async (t) => {
  // A tiny stand-in for `make run`'s server that checks the HMAC signature with
  // the example's default key and remembers outcomes by pcs_id.
  const verifier = new Verifier()
  verifier.addHmacKey('tenant-secret')
  const stored = new Map()
  const problems = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const reply = (status, body, headers = {}) => {
        res.writeHead(status, { 'Content-Type': 'application/json', ...headers })
        res.end(JSON.stringify(body))
      }
      if (req.headers['x-tenant-id'] !== 'default') problems.push(`tenant ${req.headers['x-tenant-id']}`)
      if (req.method === 'POST' && req.url === '/v1/pcs/submit') {
        const rec = parsePcs(Buffer.concat(chunks))
        try {
          verifier.verify(rec)
        } catch (e) {
          problems.push(e.message)
          return reply(401, { error: { code: 'signature_invalid', message: e.message } })
        }
        const outcome = { accepted: true, escalated: false }
        if (stored.has(rec.pcs_id)) return reply(200, stored.get(rec.pcs_id), { 'X-Dedup': 'hit' })
        stored.set(rec.pcs_id, outcome)
        return reply(200, outcome)
      }
      const id = req.url.match(/^\/v1\/pcs\/([0-9a-f]+)$/)?.[1]
      if (req.method === 'GET' && id) {
        // The client holds a key, so its reads are signed (SPEC §6.1).
        try {
          verifier.verifyRead('default', id, req.headers.authorization)
        } catch (e) {
          problems.push(`read: ${e.message}`)
          return reply(401, { error: { code: e.kind, message: e.message } })
        }
      }
      if (req.method === 'GET' && id && stored.has(id)) return reply(200, stored.get(id))
      reply(404, { error: { code: 'not_found', message: 'none' } })
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => {
    server.closeAllConnections()
    server.close()
  })
  const out = await runWith('submit.mjs', { FRACTAL_URL: `http://127.0.0.1:${server.address().port}` })
  assert.match(out, SUBMIT_OUTPUT)
  assert.deepEqual(problems, [])
  assert.equal(stored.size, 1)
})

test('examples/submit.mjs against the real server on embedded defaults (what `make run` starts)', async (t) => {
  const root = path.resolve(HERE, '..', '..', '..')
  const bin = [
    process.env.FRACTAL_BIN,
    process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, 'release', 'fractal'),
    path.join(root, 'target', 'release', 'fractal'),
  ].find((p) => p && existsSync(p))
  if (!bin) {
    t.skip('the fractal binary is not built (make build)')
    return
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'fractal-node-example-'))
  const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(async () => {
    const exited = new Promise((resolve) => child.on('exit', resolve))
    child.kill('SIGTERM')
    await exited
    rmSync(dir, { recursive: true, force: true })
  })
  const url = await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (c) => {
      out += c
      const m = out.match(/listening on (http:\/\/\S+)/)
      if (m) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`fractal serve exited ${code}`)))
  })
  assert.match(await runWith('submit.mjs', { FRACTAL_URL: url }), SUBMIT_OUTPUT)
})
