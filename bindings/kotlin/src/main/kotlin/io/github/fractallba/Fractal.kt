// Conveniences over the generated bindings (fractal.kt, from the Rust crate in
// ../src/*.rs): keys as text, and the core's names for an error. Every value
// here comes from the core; nothing of the contract is computed in Kotlin.
@file:JvmName("Fractal")

package io.github.fractallba

/** The SDK's version (the Maven artifact's), sent in `User-Agent`. */
const val SDK_VERSION: String = "0.1.0"

/** `sig` under an HMAC key given as text (its UTF-8 bytes are the key). */
@JvmOverloads
fun signHmac(record: String, key: String, version: Int = 2): String =
    signHmac(record, key.toByteArray(Charsets.UTF_8), version)

/** Signs every record with one HMAC key given as text. */
@JvmOverloads
fun signHmacMany(records: List<String>, key: String, version: Int = 2): List<String> =
    signHmacMany(records, key.toByteArray(Charsets.UTF_8), version)

/** The record with `sig` set: `alg` is `hmac` (key: the secret) or `ed25519` (key: the base64 seed). */
@JvmOverloads
fun signRecord(record: String, alg: String, key: String, version: Int = 2): String =
    signRecord(record, alg, key.toByteArray(Charsets.UTF_8), version)

/** The `Authorization` header of a read with a key given as text. */
fun readAuthorization(tenant: String, pcsId: String, t: Long, alg: String, key: String): String =
    readAuthorization(tenant, pcsId, t, alg, key.toByteArray(Charsets.UTF_8))

/** Adds an HMAC key given as text (its UTF-8 bytes). */
fun Verifier.addHmacKey(key: String) = addHmacKey(key.toByteArray(Charsets.UTF_8))

/** The shard owning `key` (its UTF-8 bytes). */
fun Ring.pick(key: String): String = pick(key.toByteArray(Charsets.UTF_8))

/** `n` distinct healthy shards clockwise from `key` (its UTF-8 bytes). */
fun Ring.pickN(key: String, n: Int): List<String> = pickN(key.toByteArray(Charsets.UTF_8), n)

/** The server's wire JSON of this outcome (`recomputed_D_hat`, …). */
fun VerifyResult.toJson(): String = verifyResultJson(this)

/**
 * The stable machine-readable name shared by every SDK and the golden vectors:
 * `invalid_json`, `invalid_field`, `validation`, `signature_missing`,
 * `signature_invalid`, `unsupported_signature_version`, `invalid_key`, `ring`,
 * `invalid_argument`; for server and transport answers `invalid`, `signature`,
 * `rate_limited`, `api`, `timeout`, `transport`.
 */
val FractalException.kind: String get() = errorKind(this)

/** The record field or argument the error is about (`N_j.4`, `sig`, `epoch`), if any. */
val FractalException.field: String? get() = errorField(this)

/** The HTTP status of an error that came from the server, else null. */
val FractalException.status: Int? get() = errorStatus(this)

/** Whether another attempt may succeed (429, 5xx, transport failures). */
val FractalException.isRetryable: Boolean get() = errorIsRetryable(this)

/** The core's message: names the field and the reason, never a key or a payload. */
val FractalException.coreMessage: String get() = errorMessage(this)
