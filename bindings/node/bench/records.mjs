// The records both benchmarks sign: realistic ids and numbers, one per index.

import { createHash } from 'node:crypto'

/** The HMAC key the benchmarks sign with. */
export const KEY = 'bench-tenant-secret'

/** A whole record (SPEC §1) for index `i`, its `pcs_id` derived as SPEC §2 says. */
export function record(i) {
  const merkle_root = createHash('sha256').update(`input-${i}`).digest('hex')
  const shard_id = `shard-${String(i % 16).padStart(3, '0')}`
  const epoch = 1_700_000_000 + i
  return {
    pcs_id: createHash('sha256').update(`${merkle_root}|${epoch}|${shard_id}`).digest('hex'),
    schema: 'fractal-lba-kakeya',
    version: '0.1',
    shard_id,
    epoch,
    attempt: 1,
    seed: i,
    scales: [2, 4, 8, 16, 32],
    N_j: { 2: 3, 4: 5, 8: 9, 16: 17, 32: 31 },
    coh_star: 0.73 + (i % 7) / 100,
    v_star: [0.12, 0.98],
    D_hat: 0.866733469 + (i % 5) / 1000,
    r: 0.87,
    regime: 'sticky',
    budget: 0.285 + (i % 3) / 1000,
    merkle_root,
  }
}
