package io.github.fractallba

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * The core's errors as the sealed `FractalException` hierarchy: each variant
 * reached through the API, with its fields, the core's kind, field and
 * message; the client protocol's answers through a `Call` fed by hand (no
 * network).
 */
class ErrorsTest {
    private val record = EXAMPLE_RECORD

    /** Compiles only while the hierarchy is sealed and this lists every subclass. */
    private fun describe(e: FractalException): String = when (e) {
        is FractalException.InvalidJson -> "json: ${e.reason}"
        is FractalException.InvalidField -> "field ${e.field}: ${e.reason}"
        is FractalException.Validation -> "validation ${e.field}: ${e.reason}"
        is FractalException.SignatureMissing -> "no sig: ${e.reason}"
        is FractalException.SignatureInvalid -> "bad sig: ${e.reason}"
        is FractalException.UnsupportedSignatureVersion -> "version ${e.version}"
        is FractalException.InvalidKey -> "key: ${e.reason}"
        is FractalException.Ring -> "ring: ${e.reason}"
        is FractalException.InvalidArgument -> "argument ${e.name}: ${e.reason}"
        is FractalException.Rejected -> "rejected ${e.status} ${e.code}: ${e.detail}"
        is FractalException.SignatureRefused -> "refused ${e.code}: ${e.detail}"
        is FractalException.RateLimited -> "rate limited ${e.retryAfterMs}: ${e.detail}"
        is FractalException.Api -> "api ${e.status} ${e.code}: ${e.detail}"
        is FractalException.Transport -> "transport ${e.timeout}: ${e.reason}"
    }

    private inline fun <reified T : FractalException> raises(kind: String, field: String?, noinline block: () -> Unit): T {
        val e = throwsKind(kind, field, T::class.java.simpleName, block)
        assertTrue(e is T, "${e.javaClass} is not ${T::class.java}")
        assertTrue(describe(e).isNotEmpty())
        assertTrue(e is Exception, "an Exception (catchable from Java)")
        return e as T
    }

    @Test
    fun `core errors map to their subclasses with the core's kind, field and message`() {
        val j = raises<FractalException.InvalidJson>("invalid_json", null) { parsePcs("{") }
        assertTrue(j.coreMessage.startsWith("invalid JSON: "), j.coreMessage)
        val f = raises<FractalException.InvalidField>("invalid_field", "epoch") {
            parsePcs(record.replace("\"epoch\":1", "\"epoch\":\"one\""))
        }
        assertEquals("epoch", f.field)
        assertTrue(f.coreMessage.startsWith("invalid field `epoch`"), f.coreMessage)
        val v = raises<FractalException.Validation>("validation", "r") { validate(record.replace("\"r\":0.87", "\"r\":1.5")) }
        assertEquals("r", v.field)
        raises<FractalException.SignatureMissing>("signature_missing", "sig") { Verifier().verify(record) }
        val bad = record.replaceFirst("{", "{\"sig\":\"v2:" + "A".repeat(43) + "=\",")
        val verifier = Verifier().apply { addHmacKey("k") }
        raises<FractalException.SignatureInvalid>("signature_invalid", "sig") { verifier.verify(bad) }
        val v1 = record.replaceFirst("{", "{\"sig\":\"${signHmac(record, "k", 1)}\",")
        val u = raises<FractalException.UnsupportedSignatureVersion>("unsupported_signature_version", "sig") { verifier.verify(v1) }
        assertEquals("v1", u.version)
        raises<FractalException.InvalidKey>("invalid_key", null) { ed25519PublicKey("not a seed") }
        raises<FractalException.InvalidKey>("invalid_key", null) { signHmac(record, ByteArray(0)) }
        raises<FractalException.Ring>("ring", null) { Ring().pick("k") }
        raises<FractalException.InvalidArgument>("invalid_argument", "epoch") { pcsId("m", -1, "s") }
        raises<FractalException.InvalidArgument>("invalid_argument", "version") { signHmac(record, "k", 3) }
        raises<FractalException.InvalidArgument>("invalid_argument", "vnodes") { Ring(-1) }
        raises<FractalException.InvalidArgument>("invalid_argument", "signature_versions") { Verifier(Policy(listOf("v9"))) }
        raises<FractalException.InvalidArgument>("invalid_argument", "t") { readDigest("t", "p", -5) }
        raises<FractalException.InvalidArgument>("invalid_argument", "params") { verify(record, """{"no_such_param":1}""") }
    }

    @Test
    fun `client options are checked by the core, naming the option`() {
        fun core(url: String = "http://127.0.0.1:9", tenant: String? = null, alg: String? = null, key: String? = null,
                 retry: RetrySettings? = null, version: Int = 2) =
            ClientCore(url, tenant, alg, key?.toByteArray(), retry, version, SDK_VERSION)
        raises<FractalException.InvalidArgument>("invalid_argument", "base_url") { core(url = "ftp://x") }
        raises<FractalException.InvalidArgument>("invalid_argument", "tenant") { core(tenant = "a b") }
        raises<FractalException.InvalidArgument>("invalid_argument", "key") { core(alg = "hmac") }
        raises<FractalException.InvalidArgument>("invalid_argument", "alg") { core(key = "k") }
        raises<FractalException.InvalidArgument>("invalid_argument", "version") { core(version = 7) }
        raises<FractalException.InvalidArgument>("invalid_argument", "retry.base_delay_ms") {
            core(retry = RetrySettings(baseDelayMs = -1))
        }
        raises<FractalException.InvalidKey>("invalid_key", null) { core(alg = "ed25519", key = "short") }
        raises<FractalException.InvalidArgument>("invalid_argument", "timeout") {
            FractalClient.builder("http://127.0.0.1:9").timeout(java.time.Duration.ZERO).build()
        }
        raises<FractalException.InvalidArgument>("invalid_argument", "pcs_id") { core().get("../x", 1, 1) }
        assertTrue(core().userAgent().startsWith("fractal-lba-kotlin/$SDK_VERSION (core "), core().userAgent())
    }

    private fun submitCall(maxRetries: Int = 2): Call =
        ClientCore("http://127.0.0.1:9", "acme", "hmac", "k".toByteArray(), RetrySettings(maxRetries, 100, 1000), 2, SDK_VERSION)
            .submit(record, 7)

    private fun answer(call: Call, status: Int, body: String, vararg headers: Pair<String, String>): Long =
        call.onResponse(status, headers.map { Header(it.first, it.second) }, body.toByteArray())

    @Test
    fun `a call carries the core's request, signed`() {
        val call = submitCall()
        assertEquals("POST", call.method())
        assertEquals("http://127.0.0.1:9/v1/pcs/submit", call.url())
        val headers = call.headers().associate { it.name.lowercase() to it.value }
        assertEquals("acme", headers["x-tenant-id"])
        assertEquals("application/json", headers["content-type"])
        val sent = parseJson(utf8(call.body())).obj()
        assertEquals(signHmac(record, "k"), sent.str("sig"))
    }

    @Test
    fun `server answers map to the client subclasses`() {
        val ok = submitCall()
        assertEquals(-1L, answer(ok, 200, """{"accepted":true,"escalated":false}""", "X-Dedup" to "hit"))
        val out = ok.finish()
        assertEquals(SubmitOutcome(200, VerifyResult(true, false, null, null, null), true), out)

        val c400 = submitCall()
        assertEquals(-1L, answer(c400, 400, """{"error":{"code":"invalid_field","message":"field `r`"}}"""))
        val r = raises<FractalException.Rejected>("invalid", null) { c400.finish() }
        assertEquals(400, r.status)
        assertEquals(400, r.status as Int?)
        assertEquals("invalid_field", r.code)
        assertFalse(r.isRetryable)

        val c401 = submitCall()
        assertEquals(-1L, answer(c401, 401, """{"error":{"code":"signature_invalid","message":"no"}}"""))
        val s = raises<FractalException.SignatureRefused>("signature", null) { c401.finish() }
        assertEquals(401, s.status)

        // 429: Retry-After is honoured (in ms), then the last answer is the error.
        val c429 = submitCall(maxRetries = 1)
        assertEquals(2000L, answer(c429, 429, """{"error":{"code":"rate_limited","message":"slow"}}""", "Retry-After" to "2"))
        assertEquals(1, c429.retries())
        assertEquals(-1L, answer(c429, 429, """{"error":{"code":"rate_limited","message":"slow"}}""", "Retry-After" to "3"))
        val rl = raises<FractalException.RateLimited>("rate_limited", null) { c429.finish() }
        assertEquals(3000L, rl.retryAfterMs)
        assertEquals(429, rl.status)
        assertTrue(rl.isRetryable)

        // 503 is retried on the core's jittered schedule, then an Api error.
        val c503 = submitCall(maxRetries = 1)
        val delay = answer(c503, 503, """{"error":{"code":"store_unavailable","message":"later"}}""")
        assertTrue(delay in 0 until 100, "full jitter below the base: $delay")
        assertEquals(-1L, answer(c503, 503, "oops"))
        val api = raises<FractalException.Api>("api", null) { c503.finish() }
        assertEquals(503, api.status)
        assertEquals("oops", api.body)

        val timeout = submitCall(maxRetries = 0)
        assertEquals(-1L, timeout.onTransportError("request timed out", true))
        val t = raises<FractalException.Transport>("timeout", null) { timeout.finish() }
        assertTrue(t.timeout)
        assertNull(t.status)
        val refused = submitCall(maxRetries = 0)
        assertEquals(-1L, refused.onTransportError("Connection refused", false))
        raises<FractalException.Transport>("transport", null) { refused.finish() }

        raises<FractalException.InvalidArgument>("invalid_argument", "call") { submitCall().finish() }
    }

    @Test
    fun `a lookup's 404 is null, its other errors are thrown`() {
        val core = ClientCore("http://127.0.0.1:9", null, null, null, null, 2, SDK_VERSION)
        val missing = core.get("abc", null, 1)
        assertEquals(-1L, answer(missing, 404, """{"error":{"code":"not_found","message":"none"}}"""))
        assertNull(missing.finishGet())
        val found = core.get("abc", 1_700_000_000, 1)
        assertEquals(-1L, answer(found, 200, """{"accepted":false,"escalated":true,"reason":"x"}"""))
        assertEquals(VerifyResult(false, true, null, null, "x"), found.finishGet())
        val health = core.health(1)
        assertEquals(-1L, answer(health, 503, "down"))
        assertFalse(health.finishHealth())
    }
}
