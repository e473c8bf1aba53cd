// An agent builds and signs a record; a receiver parses it strictly, checks the
// signature with its keys (two during a rotation), then verifies the signals.
//
//   node examples/sign_and_verify.mjs

import { Verifier, buildPcs, parsePcs, signHmac, validate, verify } from '@fractal-lba/client'

// Agent side.
const record = buildPcs({
  merkle_root: 'a'.repeat(64),
  epoch: 1,
  shard_id: 'shard-001',
  scales: [2, 4, 8, 16, 32],
  N_j: { 2: 3, 4: 5, 8: 9, 16: 17, 32: 31 },
  coh_star: 0.73,
  r: 0.87,
})
validate(record) // throws ERR_VALIDATION naming the field if anything is off
const wire = JSON.stringify({ ...record, sig: signHmac(record, process.env.TENANT_KEY ?? 'tenant-secret') })

// Receiver side.
const verifier = new Verifier()
verifier.addHmacKey(process.env.TENANT_KEY ?? 'tenant-secret')
verifier.addHmacKey('last-months-secret')
const received = parsePcs(wire) // ERR_INVALID_JSON / ERR_INVALID_FIELD on malformed input
verifier.verify(received) // ERR_SIGNATURE when it does not verify
const outcome = verify(received)
console.log(`pcs_id ${received.pcs_id}: accepted=${outcome.accepted} escalated=${outcome.escalated}`)
