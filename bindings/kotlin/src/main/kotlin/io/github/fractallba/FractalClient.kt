package io.github.fractallba

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.net.http.HttpTimeoutException
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionException
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.future.await

/**
 * A client of the Fractal LBA server over the JDK's [HttpClient].
 *
 * The transport is the only thing here: every request (validation, signing,
 * the read's `Authorization`), every decision about an answer (success, typed
 * error, retry or not, how long to wait: backoff, jitter, `Retry-After`) is the
 * Rust core's sans-IO protocol, the same as every other SDK's.
 *
 * Kotlin calls the `suspend` functions; Java calls the `…Async` ones, which
 * return a [CompletableFuture] (cancel it to stop retrying). Errors are
 * [FractalException]s. One client is safe to share between threads and
 * coroutines, and reuses connections: make one per server and tenant.
 *
 * ```kotlin
 * val client = FractalClient.builder("http://127.0.0.1:8080")
 *     .tenant("default").signingKey("hmac", "tenant-secret").build()
 * val out = client.submit(buildPcs(input))
 * println("${out.status} dedup=${out.dedupHit}")
 * ```
 */
class FractalClient private constructor(
    private val core: ClientCore,
    private val http: HttpClient,
    private val timeout: Duration,
    private val jitterSeed: Long?,
) {
    /** Settings of a [FractalClient]; [build] checks them all in the core. */
    class Builder internal constructor(private val baseUrl: String) {
        private var tenant: String? = null
        private var alg: String? = null
        private var key: ByteArray? = null
        private var timeout: Duration = Duration.ofMillis(defaultTimeoutMs())
        private var connectTimeout: Duration = Duration.ofMillis(defaultConnectTimeoutMs())
        private var retry: RetrySettings? = null
        private var signatureVersion: Int = 2
        private var jitterSeed: Long? = null
        private var http: HttpClient? = null

        /** The tenant sent as `X-Tenant-Id` (the server's default is `default`). */
        fun tenant(tenant: String) = apply { this.tenant = tenant }

        /** Sign every record and every read: `hmac` and the secret, or `ed25519` and the base64 seed. */
        fun signingKey(alg: String, key: String) = signingKey(alg, key.toByteArray(Charsets.UTF_8))

        /** As [signingKey] with the key's bytes (an HMAC secret that is not text). */
        fun signingKey(alg: String, key: ByteArray) = apply {
            this.alg = alg
            this.key = key.copyOf()
        }

        /** Timeout of one attempt (default 10 s). */
        fun timeout(timeout: Duration) = apply { this.timeout = timeout }

        /** Connection timeout (default 5 s); ignored with [httpClient]. */
        fun connectTimeout(timeout: Duration) = apply { this.connectTimeout = timeout }

        /** Retry settings (default: the core's — 3 retries, 100 ms base, 5 s cap). */
        fun retry(retry: RetrySettings) = apply { this.retry = retry }

        /** The payload submissions are signed over: 2 (default) or 1. */
        fun signatureVersion(version: Int) = apply { this.signatureVersion = version }

        /** A fixed jitter seed, so a test can predict the backoff schedule. */
        fun jitterSeed(seed: Long) = apply { this.jitterSeed = seed }

        /** The JDK client to send with (your executor, proxy, TLS settings). */
        fun httpClient(client: HttpClient) = apply { this.http = client }

        /** Checks the settings (the core names the bad one) and makes the client. */
        fun build(): FractalClient {
            if (timeout.isNegative || timeout.isZero) {
                throw FractalException.InvalidArgument("timeout", "must be positive")
            }
            val core = ClientCore(baseUrl, tenant, alg, key, retry, signatureVersion, SDK_VERSION)
            val http = http ?: HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER)
                .build()
            return FractalClient(core, http, timeout, jitterSeed)
        }
    }

    companion object {
        /** Starts configuring a client for `baseUrl` (e.g. `http://127.0.0.1:8080`). */
        @JvmStatic
        fun builder(baseUrl: String): Builder = Builder(baseUrl)
    }

    /** The `User-Agent` sent: `fractal-lba-kotlin/<version> (core <version>)`. */
    val userAgent: String get() = core.userAgent()

    /**
     * Validates, signs (when the client has a key) and submits a record (JSON
     * text), retrying as the protocol says. Retrying is safe: submissions are
     * idempotent, the server stores a record once.
     */
    suspend fun submit(record: String): SubmitOutcome = submitAsync(record).await()

    /** The stored outcome of `pcsId` for this client's tenant, null if none. */
    suspend fun get(pcsId: String): VerifyResult? = getAsync(pcsId).await()

    /** Whether the server answers `GET /health` with 200. */
    suspend fun health(): Boolean = healthAsync().await()

    /** [submit] for Java: completes with the outcome or a [FractalException]. */
    fun submitAsync(record: String): CompletableFuture<SubmitOutcome> =
        start({ core.submit(record, jitterSeed) }) { it.finish() }

    /** [get] for Java. */
    fun getAsync(pcsId: String): CompletableFuture<VerifyResult?> =
        start({ core.get(pcsId, null, jitterSeed) }) { it.finishGet() }

    /** [health] for Java. */
    fun healthAsync(): CompletableFuture<Boolean> = start({ core.health(jitterSeed) }) { it.finishHealth() }

    private fun <T> start(make: () -> Call, finish: (Call) -> T): CompletableFuture<T> {
        val call = try {
            make()
        } catch (e: FractalException) {
            return CompletableFuture.failedFuture(e)
        }
        val result = CompletableFuture<T>()
        val request = try {
            requestOf(call)
        } catch (e: IllegalArgumentException) {
            call.close()
            return CompletableFuture.failedFuture(FractalException.InvalidArgument("request", "cannot be sent: ${e.message}"))
        }
        attempt(call, request, result, finish)
        return result
    }

    private fun requestOf(call: Call): HttpRequest {
        val body = call.body()
        val b = HttpRequest.newBuilder(URI.create(call.url()))
            .timeout(timeout)
            .method(
                call.method(),
                if (body.isEmpty()) HttpRequest.BodyPublishers.noBody() else HttpRequest.BodyPublishers.ofByteArray(body),
            )
        for (h in call.headers()) b.header(h.name, h.value)
        return b.build()
    }

    private fun <T> attempt(call: Call, request: HttpRequest, result: CompletableFuture<T>, finish: (Call) -> T) {
        if (result.isDone) { // cancelled by the caller: no more attempts
            call.close()
            return
        }
        http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray()).whenComplete { resp, failure ->
            try {
                val delay = if (failure == null) {
                    val headers = resp.headers().map().flatMap { (k, vs) -> vs.map { Header(k, it) } }
                    call.onResponse(resp.statusCode(), headers, resp.body() ?: ByteArray(0))
                } else {
                    val cause = unwrap(failure)
                    call.onTransportError(reason(cause), cause is HttpTimeoutException)
                }
                if (delay < 0) {
                    result.complete(finish(call))
                    call.close()
                } else {
                    CompletableFuture.delayedExecutor(delay, TimeUnit.MILLISECONDS)
                        .execute { attempt(call, request, result, finish) }
                }
            } catch (e: Throwable) {
                result.completeExceptionally(e)
                call.close()
            }
        }
    }

    private fun unwrap(t: Throwable): Throwable {
        var e = t
        while ((e is CompletionException || e is ExecutionException) && e.cause != null) e = e.cause!!
        return e
    }

    /** What went wrong, with its causes, without the URL (it may carry credentials). */
    private fun reason(t: Throwable): String = generateSequence(t) { it.cause }
        .take(4)
        .joinToString(": ") { it.message?.takeIf(String::isNotBlank) ?: it.javaClass.simpleName }
}
