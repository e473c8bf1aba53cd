// Errors carry a stable `code`, the core's `kind`, and the `field` they are about.
//
//   node examples/errors.cjs

const { signHmac, signHmacMany } = require('@fractal-lba/client')

const record = {
  pcs_id: 'abc',
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
