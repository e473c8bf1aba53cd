package io.github.fractallba

import java.io.File


/** server/examples/record.json as compact JSON text. */
val EXAMPLE_RECORD: String = parseJson(File(GOLDEN.parentFile, "server/examples/record.json").readText()).toString()

/** The example record with a new merkle root (so a new pcs_id), as JSON text. */
fun freshRecord(tag: String): String {
    val rec = parseJson(EXAMPLE_RECORD).obj()
    val root = hex(java.security.MessageDigest.getInstance("SHA-256").digest("$tag-${System.nanoTime()}-${Math.random()}".toByteArray()))
    val id = pcsId(root, rec.long("epoch"), rec.str("shard_id"))
    return rec.with("merkle_root", root).with("pcs_id", id).toString()
}

/** The README's calls, so the documented input and names stay true. */
class ExamplesTest {
    private val input = """{"merkle_root": "${"a".repeat(64)}", "epoch": 7, "shard_id": "shard-001",
        "scales": [2, 4, 8, 16, 32], "N_j": {"2": 3, "4": 5, "8": 9, "16": 17, "32": 31},
        "coh_star": 0.73, "r": 0.87}"""

    @org.junit.jupiter.api.Test
    fun `SDK_VERSION is the artifact's version`() {
        val pom = File(GOLDEN.parentFile, "bindings/kotlin/pom.xml").readText()
        val version = Regex("<artifactId>fractal-lba</artifactId>\\s*<version>([^<]+)</version>").find(pom)!!.groupValues[1]
        org.junit.jupiter.api.Assertions.assertEquals(version, SDK_VERSION)
    }

    @org.junit.jupiter.api.Test
    fun `the README's record builds, verifies and has the README's pcs_id`() {
        val rec = buildPcs(input)
        validate(rec)
        val out = verify(rec)
        org.junit.jupiter.api.Assertions.assertTrue(out.accepted && !out.escalated, "$out")
        org.junit.jupiter.api.Assertions.assertEquals(200, verifyResultStatus(out))
        org.junit.jupiter.api.Assertions.assertEquals(pcsId("a".repeat(64), 7, "shard-001"), parseJson(rec).obj().str("pcs_id"))
        val keys = generateEd25519Keypair()
        org.junit.jupiter.api.Assertions.assertEquals(keys.publicKey, ed25519PublicKey(keys.seed))
        val signed = signRecord(rec, "ed25519", keys.seed)
        Verifier().apply { addKey("ed25519", keys.publicKey) }.use { it.verify(signed) }
        val ring = Ring.withShards(listOf(Shard("a"), Shard("b", weight = 2)))
        org.junit.jupiter.api.Assertions.assertEquals(2, ring.stats().shards)
        org.junit.jupiter.api.Assertions.assertTrue(ring.pick(rec) in setOf("a", "b"))
    }
}

/** The handles are shared between threads: lookups concurrent with changes. */
class ThreadsTest {
    @org.junit.jupiter.api.Test
    fun `a Verifier and a Ring used from many threads`() {
        val rec = EXAMPLE_RECORD
        val signed = parseJson(rec).obj().with("sig", signHmac(rec, "k")).toString()
        val verifier = Verifier().apply { addHmacKey("k") }
        val ring = Ring.withShards(listOf(Shard("a"), Shard("b"), Shard("c")))
        val pool = java.util.concurrent.Executors.newFixedThreadPool(8)
        try {
            val jobs = (0 until 64).map { i ->
                pool.submit<Unit> {
                    repeat(50) { j ->
                        verifier.verify(signed)
                        ring.pick("key-$i-$j")
                        if (j % 10 == 0) verifier.addHmacKey("other-$i-$j")
                        if (i % 16 == 0 && j == 25) ring.setHealthy("c", i % 32 == 0)
                    }
                }
            }
            jobs.forEach { it.get() }
        } finally {
            pool.shutdown()
        }
        org.junit.jupiter.api.Assertions.assertEquals(1 + 64 * 5, verifier.size())
    }
}
