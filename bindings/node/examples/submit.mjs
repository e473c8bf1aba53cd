// Build, sign and submit a record to a Fractal LBA server, then read its stored
// outcome back. Start a server first with `make run` (http://127.0.0.1:8080,
// tenant "default", no signatures required — the record is signed anyway, as a
// server that requires signatures would want), then:
//
//   node bindings/node/examples/submit.mjs
//
// Settings from the environment: FRACTAL_URL (default http://127.0.0.1:8080),
// FRACTAL_TENANT (default "default"), FRACTAL_ALG ("hmac" or "ed25519", default
// "hmac") and FRACTAL_KEY (the HMAC secret or base64 Ed25519 seed; default
// "tenant-secret"). The key is never printed.

import { Client, buildPcs } from '@fractal-lba/client'

const client = new Client({
  baseUrl: process.env.FRACTAL_URL ?? 'http://127.0.0.1:8080',
  tenant: process.env.FRACTAL_TENANT ?? 'default',
  alg: process.env.FRACTAL_ALG ?? 'hmac',
  key: process.env.FRACTAL_KEY ?? 'tenant-secret',
  timeoutMs: 5000, // per attempt
  retry: { maxRetries: 3, baseDelayMs: 100, maxDelayMs: 2000 },
})

// A new epoch each run, so the first submission is not a duplicate.
const record = buildPcs({
  merkle_root: 'c'.repeat(64),
  epoch: Math.floor(Date.now() / 1000),
  shard_id: 'shard-001',
  scales: [2, 4, 8, 16, 32],
  N_j: { 2: 3, 4: 5, 8: 9, 16: 17, 32: 31 },
  coh_star: 0.73,
  r: 0.87,
})

try {
  // The whole call, retries included, gives up after 30 s.
  const signal = AbortSignal.timeout(30_000)
  const { status, result, dedupHit } = await client.submit(record, { signal })
  console.log(`submitted ${record.pcs_id}: ${status} accepted=${result.accepted} escalated=${result.escalated} dedup=${dedupHit}`)
  const again = await client.submit(record, { signal })
  console.log(`submitted again: ${again.status} dedup=${again.dedupHit}`)
  const stored = await client.get(record.pcs_id, { signal })
  console.log(`stored outcome: accepted=${stored?.accepted} escalated=${stored?.escalated}`)
} catch (err) {
  // err.code: ERR_VALIDATION, ERR_SIGNATURE, ERR_RATE_LIMITED, ERR_API, ERR_TIMEOUT,
  // ERR_TRANSPORT, ABORT_ERR, …; err.status is the HTTP status when the server answered.
  console.error(`submit failed: ${err.code} (kind ${err.kind}, status ${err.status}): ${err.message}`)
  if (err.code === 'ERR_TRANSPORT') console.error('Is the server running? Start it with `make run`.')
  process.exitCode = 1
}
