// ES-module smoke test: named imports of the CommonJS package, sign, verify,
// submit through the Client to a loopback server. Also run from a fresh
// directory where the packed tarball is installed.
import assert from 'node:assert/strict'
import http from 'node:http'
import { Client, Verifier, buildPcs, parsePcs, signHmac, verify } from '@fractal-lba/client'
import client from '@fractal-lba/client'

assert.equal(client.signHmac, signHmac)
const record = buildPcs({
  merkle_root: 'a'.repeat(64),
  epoch: 1,
  shard_id: 'shard-001',
  scales: [2, 4, 8, 16, 32],
  N_j: { 2: 3, 4: 5, 8: 9, 16: 17, 32: 31 },
  coh_star: 0.73,
  r: 0.87,
})
const sig = signHmac(record, 'tenant-secret')
const verifier = new Verifier()
verifier.addHmacKey('tenant-secret')
verifier.verify({ ...record, sig })
assert.throws(() => verifier.verify({ ...record, sig, epoch: 2 }), { code: 'ERR_SIGNATURE', field: 'sig' })
assert.equal(verify(record).accepted, true)
// The Client (tokio runtime, reqwest) works from the installed package too.
const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    let status = 200
    try {
      verifier.verify(parsePcs(Buffer.concat(chunks)))
    } catch {
      status = 401
    }
    res.writeHead(status, { 'Content-Type': 'application/json' })
    res.end(status === 200 ? '{"accepted":true,"escalated":false}' : '{"error":{"code":"signature_invalid","message":"no"}}')
  })
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const c = new Client({ baseUrl: `http://127.0.0.1:${server.address().port}`, alg: 'hmac', key: 'tenant-secret' })
assert.deepEqual(await c.submit(record), { status: 200, result: { accepted: true, escalated: false }, dedupHit: false })
server.closeAllConnections()
server.close()

console.log(`smoke.mjs ok: ${import.meta.resolve('@fractal-lba/client')}`)
