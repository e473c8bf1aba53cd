// Contract v2 (SPEC §3.2, §4, §4.1, §6.1): what a signature covers, which
// signatures a verifier accepts, and how a read is signed.
//
//   node examples/signature_versions.mjs

import { Verifier, buildPcs, parsePcs, readAuthorization, signHmac } from '@fractal-lba/client'

const key = process.env.TENANT_KEY ?? 'tenant-secret'
const record = buildPcs({
  merkle_root: 'a'.repeat(64),
  epoch: 1,
  shard_id: 'shard-001',
  scales: [2, 4, 8, 16, 32],
  N_j: { 2: 3, 4: 5, 8: 9, 16: 17, 32: 31 },
  coh_star: 0.73,
  r: 0.87,
})

// v2 (the default) signs the whole record as sent — unknown fields included —
// except the delivery fields sig, attempt, sent_at and ft.
const withAgent = { ...record, agent: { host: 'node-7', build: 42 } }
const wire = JSON.stringify({ ...withAgent, sig: signHmac(withAgent, key) })
const received = parsePcs(wire) // unknown fields are kept
const verifier = new Verifier() // accepts v2 signatures only
verifier.addHmacKey(key)
verifier.verify(received)
console.log(`v2 verified; agent kept: ${JSON.stringify(received.agent)}`)
try {
  verifier.verify({ ...received, regime: 'mixed' }) // v1 never signed the regime
} catch (err) {
  console.log(`regime changed: ${err.code} ${err.kind}`)
}

// v1 only for a server or tenant that does not accept v2 yet.
const old = { ...record, sig: signHmac(record, key, { version: 1 }) }
try {
  verifier.verify(old)
} catch (err) {
  console.log(`v1 under the default policy: ${err.kind}`)
}
// During a migration a verifier may accept both (and the seed's encodings, SPEC §4.1).
const migrating = new Verifier({ versions: ['v1', 'v2'], acceptEncodings: ['seed-python'] })
migrating.addHmacKey(key)
migrating.verify(old)
console.log(`migrating verifier accepts v1: ${JSON.stringify(migrating.policy)}`)

// Reads are signed too: Client.get sends this header when it holds a key.
const header = readAuthorization('default', record.pcs_id, 1700000000, 'hmac', key)
verifier.verifyRead('default', record.pcs_id, header, 1700000000)
console.log(`read header: ${header.replace(/sig=.*/, 'sig=…')}`)
