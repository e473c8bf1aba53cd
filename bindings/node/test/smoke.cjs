// CommonJS smoke test: require the package by name, sign, verify. Also run
// from a fresh directory where the packed tarball is installed (make test-node).
'use strict'
const assert = require('node:assert/strict')
const client = require('@fractal-lba/client')

const record = client.buildPcs({
  merkle_root: 'a'.repeat(64),
  epoch: 1,
  shard_id: 'shard-001',
  scales: [2, 4, 8, 16, 32],
  N_j: { 2: 3, 4: 5, 8: 9, 16: 17, 32: 31 },
  coh_star: 0.73,
  r: 0.87,
})
const sig = client.signHmac(record, 'tenant-secret')
const verifier = new client.Verifier()
verifier.addHmacKey('tenant-secret')
verifier.verify({ ...record, sig })
assert.throws(() => verifier.verify({ ...record, sig, r: 0.5 }), { code: 'ERR_SIGNATURE', field: 'sig' })
assert.deepEqual(client.verify(record), {
  accepted: true,
  escalated: false,
  recomputed_D_hat: record.D_hat,
  recomputed_budget: record.budget,
})
console.log(`smoke.cjs ok: ${require.resolve('@fractal-lba/client')}`)
