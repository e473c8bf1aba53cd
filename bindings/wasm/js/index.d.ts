/* @fractal-lba/client, browser entry: the Rust core compiled to WebAssembly.
 * The same API and types as the Node entry (index.d.ts), with `Uint8Array`
 * where Node returns a `Buffer`. Written by hand from the Node declarations;
 * bindings/wasm/test checks that every name exported here exists. */

/** A PCS record (SPEC §1) as a plain object. Integers beyond 2^53−1 (a `seed`,
 * say) come back from `parsePcs` as `bigint`; any integer field also accepts one.
 * Functions that take a record also accept fields the SPEC does not name: they
 * are kept, sent, and signed by v2. */
export interface Pcs {
  pcs_id: string
  schema: string
  version: string
  shard_id: string
  epoch: number | bigint
  attempt?: number | bigint
  sent_at?: string
  seed?: number | bigint
  scales?: Array<number | bigint>
  N_j?: Record<string, number | bigint>
  coh_star?: number
  v_star?: Array<number>
  D_hat?: number
  r?: number
  regime?: 'sticky' | 'mixed' | 'non_sticky' | string
  budget?: number
  merkle_root: string
  /** The signature (SPEC §4): `'v2:'` + base64 over the v2 digest, or plain
   * base64 over the v1 digest. */
  sig?: string
  ft?: FaultTolerance
  /** Any other field: kept, sent, and signed by v2. */
  [field: string]: unknown
}

/** Optional fault-tolerance metadata of a record (`ft`). */
export interface FaultTolerance {
  outbox_seq?: number | bigint
  degraded?: boolean
  fallbacks?: Array<string>
  clock_skew_ms?: number | bigint
}

/** What `buildPcs` needs; everything else (pcs_id, D_hat, regime, budget) is computed. */
export interface BuildInput {
  merkle_root: string
  epoch: number | bigint
  shard_id: string
  scales: Array<number | bigint>
  N_j: Record<string, number | bigint>
  coh_star: number
  v_star?: Array<number>
  r: number
  /** Default `"0.1"`. */
  version?: string
  /** Default 1. */
  attempt?: number | bigint
  sent_at?: string
  /** Default 0. */
  seed?: number | bigint
  ft?: FaultTolerance
}

/** Verification parameters (SPEC §5); missing ones take the defaults. The
 * snake_case names of the golden vectors are accepted too. */
export interface VerifyParams {
  tolD?: number
  tolCoh?: number
  alpha?: number
  beta?: number
  gamma?: number
  base?: number
  d0?: number
  budgetTol?: number
}

/** The outcome of verification (SPEC §5), with the wire's field names. */
export interface VerifyResult {
  accepted: boolean
  escalated: boolean
  recomputed_D_hat?: number
  recomputed_budget?: number
  reason?: string
}

/** Options of the signing calls. */
export interface SignOptions {
  /** The payload version (SPEC §3): 2 (default), or 1 for a server or tenant
   * that does not accept v2 yet. */
  version?: 1 | 2
}

/** The signature policy of a `Verifier`. */
export interface VerifierOptions {
  /** Accepted payload versions (default `['v2']`; at least one). */
  versions?: Array<1 | 2 | 'v1' | 'v2'>
  /** The seed's v1 encodings also accepted (SPEC §4.1; default none). */
  acceptEncodings?: Array<'seed-python' | 'seed-go'>
}

/** The policy a `Verifier` applies. */
export interface SignaturePolicy {
  versions: Array<'v1' | 'v2'>
  acceptEncodings: Array<'seed-python' | 'seed-go'>
}

/** The outcome of one signature check in a batch. */
export interface SignatureCheck {
  valid: boolean
  code?: string
  kind?: string
  field?: string
  message?: string
}

/** A fresh Ed25519 key pair, both halves standard base64 of 32 bytes. */
export interface Ed25519KeyPair {
  seed: string
  publicKey: string
}

/** A shard of the ring: `weight` ≥ 1 (default 1), `healthy` (default true). */
export interface ShardSpec {
  name: string
  weight?: number
  healthy?: boolean
}

/** A key whose owner changes between two rings. */
export interface Move {
  key: string
  from?: string
  to?: string
}

/** Counts describing a ring. */
export interface RingStats {
  shards: number
  healthyShards: number
  points: number
  vnodes: number
}

/** Retry settings (the core's `RetryPolicy`); missing fields take the defaults. */
export interface RetryOptions {
  maxRetries?: number
  baseDelayMs?: number
  maxDelayMs?: number
  maxRetryAfterMs?: number
}

/** Settings of a `Client`. */
export interface ClientOptions {
  /** Server base URL, `http://` or `https://`. The server must list the page's
   * origin in the tenant's `cors_origins`. */
  baseUrl: string
  /** Sent as `X-Tenant-Id` (the server's default tenant is `default`). */
  tenant?: string
  /** Sign submitted records (and reads) with this algorithm (needs `key`). */
  alg?: 'hmac' | 'ed25519'
  /** The HMAC secret, or the base64 Ed25519 seed (needs `alg`). A key in a
   * web page is visible to its users: prefer Ed25519 per user or device. */
  key?: string
  /** Payload version of the signatures the client makes (default 2). */
  signatureVersion?: 1 | 2
  /** Timeout of one attempt in milliseconds (default 10000). */
  timeoutMs?: number
  /** Accepted for compatibility with the Node entry; `fetch` has no separate
   * connection timeout, `timeoutMs` covers it. */
  connectTimeoutMs?: number
  /** Retry settings (default: 3 retries, 100 ms base, 5 s cap). */
  retry?: RetryOptions
  /** A fixed jitter seed, so the backoff schedule is reproducible (tests). */
  jitterSeed?: number | bigint
}

/** Options of one call. */
export interface CallOptions {
  /** Aborting it rejects the call with an `AbortError` and cancels the request
   * in flight (and any retry). */
  signal?: AbortSignal
}

/** The answer to a submission. */
export interface SubmitResult {
  status: number
  result: VerifyResult
  dedupHit: boolean
}

/** A client of the Fractal LBA server over `fetch`, with the core's retry rules
 * (429, 503, other 5xx and network failures; `Retry-After` honoured). */
export declare class Client {
  constructor(options: ClientOptions)
  submit(record: Pcs, options?: CallOptions): Promise<SubmitResult>
  get(pcsId: string, options?: CallOptions): Promise<VerifyResult | null>
  health(options?: CallOptions): Promise<boolean>
}

/** The consistent-hash ring of SPEC §7. */
export declare class Ring {
  constructor(vnodes?: number)
  static withShards(shards: ShardSpec[], vnodes?: number): Ring
  addShard(name: string, weight?: number): void
  removeShard(name: string): void
  setHealthy(name: string, healthy: boolean): void
  pick(key: string | Uint8Array): string
  pickN(key: string | Uint8Array, n: number): Array<string>
  plan(after: Ring, keys: string[]): Array<Move>
  shards(): Array<Required<ShardSpec>>
  stats(): RingStats
}

/** Holds verification keys and checks records' `sig` under a signature policy
 * (v2 only unless told otherwise). */
export declare class Verifier {
  constructor(options?: VerifierOptions)
  get policy(): SignaturePolicy
  setPolicy(options: VerifierOptions): void
  addHmacKey(key: string | Uint8Array): void
  addEd25519PublicKey(publicKey: string): void
  addKey(alg: 'hmac' | 'ed25519', key: string): void
  get size(): number
  verify(record: Pcs): void
  verifyMany(records: Pcs[]): Array<SignatureCheck>
  verifyManyAsync(records: Pcs[]): Promise<SignatureCheck[]>
  /** Checks a read's `Authorization` header (SPEC §6.1) at unix time `now`
   * (seconds; default: the clock). */
  verifyRead(tenant: string, pcsId: string, authorization: string | null | undefined, now?: number | bigint): void
}

export declare function buildPcs(input: BuildInput, params?: VerifyParams): Pcs
export declare function canonicalPayload(record: Pcs, options?: SignOptions): Uint8Array
export declare function coreVersion(): string
export declare function digest(record: Pcs, options?: SignOptions): Uint8Array
export declare function ed25519PublicKey(seed: string): string
export declare function generateEd25519Keypair(): Ed25519KeyPair
export declare function parsePcs(json: string | Uint8Array): Pcs
export declare function pcsId(merkleRoot: string, epoch: number | bigint, shardId: string): string
export declare function readAuthorization(
  tenant: string,
  pcsId: string,
  t: number | bigint,
  alg: 'hmac' | 'ed25519',
  key: string | Uint8Array,
): string
export declare function readDigest(tenant: string, pcsId: string, t: number | bigint): Uint8Array
export declare function signEd25519(record: Pcs, seed: string, options?: SignOptions): string
export declare function signHmac(record: Pcs, key: string | Uint8Array, options?: SignOptions): string
export declare function signHmacMany(records: Pcs[], key: string | Uint8Array, options?: SignOptions): Array<string>
export declare function signHmacManyAsync(records: Pcs[], key: string | Uint8Array, options?: SignOptions): Promise<string[]>
export declare function validate(record: Pcs): void
export declare function verify(record: Pcs, params?: VerifyParams): VerifyResult
export declare function verifyMany(records: Pcs[], params?: VerifyParams): Array<VerifyResult>
