package io.github.fractallba

import com.sun.net.httpserver.HttpServer
import java.io.File
import java.net.InetSocketAddress
import java.nio.file.Files
import java.time.Duration
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows

/**
 * The client over the JDK's HttpClient: a submit/dedup/get round trip against
 * a running `fractal serve` (the binary `make test-kotlin` passes as
 * `fractal.bin`), and retries, `Retry-After` and timeouts against a scripted
 * loopback server.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClientTest {
    private val secret = "kotlin-secret-é"
    private var server: Process? = null
    private var dir: File? = null
    private lateinit var url: String

    @BeforeAll
    fun start() {
        val bin = System.getProperty("fractal.bin").orEmpty()
        if (bin.isEmpty()) return
        val tmp = Files.createTempDirectory("fractal-kotlin-").toFile().also { dir = it }
        val cfg = File(tmp, "fractal.toml")
        cfg.writeText(
            """
            listen = "127.0.0.1:0"
            data_dir = "${tmp.path}/data"
            signature_policy = "none"

            [[tenants]]
            id = "default"
            algorithm = "none"

            [[tenants]]
            id = "hmac-tenant"
            algorithm = "hmac"
            keys = ["$secret"]
            """.trimIndent(),
        )
        val p = ProcessBuilder(bin, "serve", "--config", cfg.path).redirectErrorStream(true).start().also { server = it }
        val out = p.inputStream.bufferedReader()
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (System.nanoTime() < deadline) {
            val line = out.readLine() ?: break
            Regex("listening on (http://\\S+)").find(line)?.let { url = it.groupValues[1] }
            if (::url.isInitialized) break
        }
        check(::url.isInitialized) { "fractal serve did not report its address" }
        // Keep draining its output so it never blocks on a full pipe.
        Thread {
            try {
                out.forEachLine { }
            } catch (_: java.io.IOException) { // the server stopped
            }
        }.apply { isDaemon = true }.start()
    }

    @AfterAll
    fun stop() {
        server?.let {
            it.destroy()
            it.waitFor(15, TimeUnit.SECONDS)
        }
        dir?.deleteRecursively()
    }

    private fun real() = assumeTrue(server != null, "set -Dfractal.bin to a `fractal` binary (make test-kotlin does)")

    @Test
    fun `submit, dedup and get round trip against fractal serve`() = runBlocking<Unit> {
        real()
        val client = FractalClient.builder(url).tenant("hmac-tenant").signingKey("hmac", secret).build()
        assertTrue(client.health())
        val rec = freshRecord("kotlin-round-trip")
        val first = client.submit(rec)
        assertEquals(200, first.status)
        assertFalse(first.dedupHit)
        assertTrue(first.result.accepted)
        // The same record again, also concurrently: stored once, the same outcome.
        val again = (1..4).map { async { client.submit(rec) } }.awaitAll()
        for (a in again) {
            assertTrue(a.dedupHit)
            assertEquals(first.result, a.result)
            assertEquals(first.status, a.status)
        }
        val id = parseJson(rec).obj().str("pcs_id")
        assertEquals(first.result, client.get(id))
        assertNull(client.get(pcsId("f".repeat(64), 1, "nowhere")))
        // A read without a key is refused by the HMAC tenant (SPEC §6.1).
        val unsigned = FractalClient.builder(url).tenant("hmac-tenant").build()
        val e = assertThrows<FractalException.SignatureRefused> { runBlocking { unsigned.get(id) } }
        assertEquals(401, e.status)
        assertEquals("signature", e.kind)
        // A record signed with another key is refused, not retried.
        val wrong = FractalClient.builder(url).tenant("hmac-tenant").signingKey("hmac", "not-the-key").build()
        assertThrows<FractalException.SignatureRefused> { runBlocking { wrong.submit(freshRecord("wrong")) } }
    }

    @Test
    fun `Java callers get CompletableFutures`() {
        real()
        val client = FractalClient.builder(url).tenant("hmac-tenant").signingKey("hmac", secret).build()
        val rec = freshRecord("kotlin-future")
        assertFalse(client.submitAsync(rec).get(30, TimeUnit.SECONDS).dedupHit)
        assertTrue(client.submitAsync(rec).join().dedupHit)
        assertTrue(client.healthAsync().get())
        val invalid = parseJson(rec).obj().with("r", kotlinx.serialization.json.JsonPrimitive(1.5)).toString()
        val e = assertThrows<ExecutionException> { client.submitAsync(invalid).get() }
        assertTrue(e.cause is FractalException.Validation, "${e.cause}")
    }

    /** A loopback server answering one scripted reply per request. */
    private class Scripted(replies: List<Triple<Int, Map<String, String>, Long>>, body: String) : AutoCloseable {
        val seen = ConcurrentLinkedQueue<Pair<Long, Map<String, String>>>()
        private val http = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
        val url get() = "http://127.0.0.1:${http.address.port}"

        init {
            val queue = ArrayDeque(replies)
            http.createContext("/") { ex ->
                seen.add(System.nanoTime() to ex.requestHeaders.entries.associate { it.key.lowercase() to it.value.first() })
                val (status, headers, sleepMs) = synchronized(queue) { queue.removeFirstOrNull() } ?: Triple(500, emptyMap(), 0L)
                if (sleepMs > 0) Thread.sleep(sleepMs)
                headers.forEach { (k, v) -> ex.responseHeaders.add(k, v) }
                val bytes = (if (status < 300) body else """{"error":{"code":"store_unavailable","message":"later"}}""").toByteArray()
                try {
                    ex.sendResponseHeaders(status, bytes.size.toLong())
                    ex.responseBody.use { it.write(bytes) }
                } catch (_: java.io.IOException) { // the client gave up on this attempt
                }
            }
            http.executor = java.util.concurrent.Executors.newCachedThreadPool()
            http.start()
        }

        fun gapsMs(): List<Long> = seen.map { it.first }.zipWithNext { a, b -> (b - a) / 1_000_000 }

        override fun close() = http.stop(0)
    }

    private val ok = """{"accepted":true,"escalated":false,"recomputed_D_hat":0.866733469,"recomputed_budget":0.285}"""

    @Test
    fun `Retry-After is honoured on 503 and 429, with the same request each time`() = runBlocking<Unit> {
        Scripted(listOf(Triple(503, mapOf("Retry-After" to "1"), 0L), Triple(429, mapOf("Retry-After" to "1"), 0L), Triple(200, emptyMap(), 0L)), ok).use { s ->
            val client = FractalClient.builder(s.url).tenant("acme").signingKey("hmac", "k").build()
            val out = client.submit(freshRecord("scripted"))
            assertEquals(200, out.status)
            assertEquals(3, s.seen.size)
            assertTrue(s.gapsMs().all { it >= 950 }, "${s.gapsMs()}")
            val headers = s.seen.first().second
            assertEquals("acme", headers["x-tenant-id"])
            assertTrue(headers["user-agent"]!!.startsWith("fractal-lba-kotlin/"), headers["user-agent"])
        }
    }

    @Test
    fun `gives up after max retries with the last answer's error`() = runBlocking<Unit> {
        Scripted(List(5) { Triple(503, emptyMap<String, String>(), 0L) }, ok).use { s ->
            val client = FractalClient.builder(s.url).retry(RetrySettings(2, 10, 20)).build()
            val e = assertThrows<FractalException.Api> { runBlocking { client.submit(freshRecord("down")) } }
            assertEquals(503, e.status)
            assertEquals(3, s.seen.size)
        }
    }

    @Test
    fun `each attempt times out`() = runBlocking<Unit> {
        Scripted(List(2) { Triple(200, emptyMap<String, String>(), 2000L) }, ok).use { s ->
            val client = FractalClient.builder(s.url).timeout(Duration.ofMillis(300)).retry(RetrySettings(1, 10, 20)).build()
            val e = assertThrows<FractalException.Transport> { runBlocking { client.submit(freshRecord("slow")) } }
            assertTrue(e.timeout)
            assertEquals("timeout", e.kind)
            assertEquals(2, s.seen.size)
        }
    }

    @Test
    fun `a cancelled call makes no further attempt`() {
        val down = Triple(503, mapOf("Retry-After" to "1"), 0L)
        Scripted(List(3) { down }, ok).use { s ->
            val client = FractalClient.builder(s.url).retry(RetrySettings(3, 10, 20)).build()
            val future = client.submitAsync(freshRecord("cancel"))
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10)
            while (s.seen.isEmpty() && System.nanoTime() < deadline) Thread.sleep(10)
            Thread.sleep(200) // the answer is in; the core asked for a 1 s wait
            assertTrue(future.cancel(true))
            Thread.sleep(1500)
            assertEquals(1, s.seen.size)
        }
    }

    @Test
    fun `one client, many threads`() {
        real()
        val client = FractalClient.builder(url).tenant("hmac-tenant").signingKey("hmac", secret).build()
        val recs = (1..8).map { freshRecord("threads-$it") }
        val pool = java.util.concurrent.Executors.newFixedThreadPool(8)
        try {
            val outs = (recs + recs).map { r -> pool.submit<SubmitOutcome> { client.submitAsync(r).join() } }.map { it.get() }
            assertEquals(8, outs.count { !it.dedupHit })
            assertEquals(8, outs.count { it.dedupHit })
        } finally {
            pool.shutdown()
        }
    }

    @Test
    fun `a refused connection is a transport error`() = runBlocking<Unit> {
        val client = FractalClient.builder("http://127.0.0.1:9").retry(RetrySettings(0)).build()
        val e = assertThrows<FractalException.Transport> { runBlocking { client.health() } }
        assertFalse(e.timeout)
        assertEquals("transport", e.kind)
    }
}
