// ES-module smoke test: named imports of the CommonJS package, sign, verify.
// Also run from a fresh directory where the packed tarball is installed.
import assert from 'node:assert/strict'
import { Verifier, buildPcs, signHmac, verify } from '@fractal-lba/client'
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
console.log(`smoke.mjs ok: ${import.meta.resolve('@fractal-lba/client')}`)
