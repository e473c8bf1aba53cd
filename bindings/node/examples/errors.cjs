// Errors carry a stable `code`, the core's `kind`, and the `field` they are about.
//
//   node examples/errors.cjs

const { Verifier, signHmac, signHmacMany } = require('@fractal-lba/client')

const record = {
  pcs_id: 'abc',
  schema: 'fractal-lba-kakeya',
  version: '0.1',
  merkle_root: 'a'.repeat(64),
  shard_id: 'shard-001',
  epoch: 1.5, // JavaScript numbers are doubles: a fractional epoch is refused
  D_hat: 1.41,
  coh_star: 0.73,
  r: 0.87,
  budget: 0.42,
}

try {
  signHmac(record, 'tenant-secret')
} catch (err) {
  console.log(err.code, err.kind, err.field) // ERR_INVALID_FIELD invalid_field epoch
  console.log(err.message) // invalid field `epoch`: expected an integer, got 1.5
}

try {
  signHmacMany([{ ...record, epoch: 1 }, record], 'tenant-secret')
} catch (err) {
  console.log(err.code, err.field, err.index) // ERR_INVALID_FIELD epoch 1
}

const good = { ...record, epoch: 1 }
try {
  signHmac(good, 'tenant-secret', { version: 3 }) // versions are 1 and 2
} catch (err) {
  console.log(err.code, err.field) // ERR_INVALID_ARGUMENT version
}

// A verifier accepts v2 signatures only unless its policy says otherwise.
const verifier = new Verifier()
verifier.addHmacKey('tenant-secret')
try {
  verifier.verify({ ...good, sig: signHmac(good, 'tenant-secret', { version: 1 }) })
} catch (err) {
  console.log(err.code, err.kind) // ERR_SIGNATURE unsupported_signature_version
}
