// Compiled with `tsc --noEmit` (make test-web): the browser entry's index.d.ts
// must describe the same typical use as the Node entry's (bindings/node/types/
// usage.ts, with Uint8Array for Buffer). It is never run, only type-checked.

import {
  type BuildInput,
  type CallOptions,
  type ClientOptions,
  type SubmitResult,
  type Pcs,
  type SignatureCheck,
  type SignaturePolicy,
  type SignOptions,
  type VerifierOptions,
  type VerifyParams,
  type VerifyResult,
  Client,
  Ring,
  Verifier,
  buildPcs,
  canonicalPayload,
  digest,
  generateEd25519Keypair,
  parsePcs,
  pcsId,
  readAuthorization,
  readDigest,
  signEd25519,
  signHmac,
  signHmacMany,
  signHmacManyAsync,
  validate,
  verify,
  verifyMany,
} from '@fractal-lba/client'

const input: BuildInput = {
  merkle_root: 'a'.repeat(64),
  epoch: 1,
  shard_id: 'shard-001',
  scales: [2, 4, 8, 16, 32],
  N_j: { '2': 3, '4': 5, '8': 9, '16': 17, '32': 31 },
  coh_star: 0.73,
  r: 0.87,
  seed: 42n,
}
const params: VerifyParams = { tolD: 0.15, budgetTol: 0.01 }
const record: Pcs = buildPcs(input, params)
validate(record)

const id: string = pcsId(record.merkle_root, record.epoch, record.shard_id)
const payload: Uint8Array = canonicalPayload(record)
const hash: Uint8Array = digest(record)
const keys = generateEd25519Keypair()
const signed: Pcs = { ...record, sig: signHmac(record, 'tenant-secret') }
const edSig: string = signEd25519(record, keys.seed)
const many: string[] = signHmacMany([record, record], new TextEncoder().encode('tenant-secret'))

// Contract v2: v2 by default, v1 on request; unknown fields travel and are signed.
const v1: SignOptions = { version: 1 }
const v1Sig: string = signHmac(record, 'tenant-secret', v1)
const v2Payload: Uint8Array = canonicalPayload({ ...record, agent: { host: 'node-7' } }, { version: 2 })
const v2Digest: Uint8Array = digest(record, { version: 2 })
const v1Many: string[] = signHmacMany([record], 'tenant-secret', v1)
const parsed = parsePcs(JSON.stringify({ ...record, agent: 'x' }))
const agentField: unknown = parsed.agent
// @ts-expect-error the version is 1 or 2
signHmac(record, 'k', { version: 3 })

const legacy: VerifierOptions = { versions: ['v1', 2], acceptEncodings: ['seed-python'] }
const migrating = new Verifier(legacy)
const policy: SignaturePolicy = migrating.policy
const accepted: Array<'v1' | 'v2'> = policy.versions
migrating.setPolicy({ versions: [2] })
// @ts-expect-error an encoding is 'seed-python' or 'seed-go'
new Verifier({ acceptEncodings: ['seed-rust'] })

const readHeader: string = readAuthorization('default', record.pcs_id, Math.floor(Date.now() / 1000), 'hmac', 'tenant-secret')
const readHash: Uint8Array = readDigest('default', record.pcs_id, 1700000000n)

const verifier = new Verifier()
verifier.addHmacKey('tenant-secret')
verifier.verifyRead('default', record.pcs_id, readHeader)
verifier.verifyRead('default', record.pcs_id, undefined, 1700000000)
verifier.addEd25519PublicKey(keys.publicKey)
verifier.addKey('hmac', 'previous-secret')
const size: number = verifier.size
verifier.verify(signed)
const checks: SignatureCheck[] = verifier.verifyMany([signed, record])
const firstValid: boolean = checks[0].valid

const outcome: VerifyResult = verify(parsePcs(JSON.stringify(signed)), params)
const outcomes: VerifyResult[] = verifyMany([record])
const recomputed: number | undefined = outcome.recomputed_D_hat

const ring = Ring.withShards([{ name: 'a' }, { name: 'b', weight: 2, healthy: true }])
ring.setHealthy('a', false)
const owner: string = ring.pick(record.pcs_id)
const replicas: string[] = ring.pickN(record.pcs_id, 1)
const moves = ring.plan(new Ring(), ['k1', 'k2'])
const healthy: number = ring.stats().healthyShards

async function batches(): Promise<void> {
  const sigs: string[] = await signHmacManyAsync([record], 'tenant-secret')
  const results: SignatureCheck[] = await verifier.verifyManyAsync([signed])
  void sigs
  void results
}

try {
  validate({ ...record, coh_star: 2 })
} catch (e) {
  const err = e as Error & { code?: string; field?: string; kind?: string }
  const msg: string = `${err.code} ${err.field} ${err.kind} ${err.message}`
  void msg
}

const options: ClientOptions = {
  baseUrl: 'http://127.0.0.1:8080',
  tenant: 'default',
  alg: 'ed25519',
  key: keys.seed,
  timeoutMs: 5000,
  connectTimeoutMs: 1000,
  retry: { maxRetries: 3, baseDelayMs: 100, maxDelayMs: 5000, maxRetryAfterMs: 60000 },
  jitterSeed: 7n,
  signatureVersion: 2,
}
const client = new Client(options)

async function submitting(): Promise<void> {
  const call: CallOptions = { signal: AbortSignal.timeout(30_000) }
  const answer: SubmitResult = await client.submit(record, call)
  const status: number = answer.status
  const dedup: boolean = answer.dedupHit
  const accepted: boolean = answer.result.accepted
  const stored: VerifyResult | null = await client.get(record.pcs_id, { signal: new AbortController().signal })
  const up: boolean = await client.health()
  try {
    await client.submit(signed)
  } catch (e) {
    const err = e as Error & { code?: string; kind?: string; status?: number | null; retryAfterMs?: number | null }
    if (err.code === 'ERR_RATE_LIMITED') void err.retryAfterMs
  }
  void [status, dedup, accepted, stored, up]
}

// @ts-expect-error baseUrl is required
new Client({ tenant: 'default' })
// @ts-expect-error alg is 'hmac' or 'ed25519'
new Client({ baseUrl: 'http://127.0.0.1:8080', alg: 'rsa', key: 'k' })
// @ts-expect-error signatureVersion is 1 or 2
new Client({ baseUrl: 'http://127.0.0.1:8080', signatureVersion: 3 })
// @ts-expect-error a signal must be an AbortSignal
client.health({ signal: 5 })

// @ts-expect-error epoch must be a number or bigint
pcsId('root', '1', 'shard')
// @ts-expect-error a record needs its required fields
signHmac({ epoch: 1 }, 'key')

void [v1Sig, v2Payload, v2Digest, v1Many, agentField, accepted, readHash]
void [id, payload, hash, edSig, many, size, firstValid, outcomes, recomputed, owner, replicas, moves, healthy, batches, submitting]
