package io.github.fractallba

import java.math.BigInteger
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.boolean
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.doubleOrNull
import kotlinx.serialization.json.int
import kotlinx.serialization.json.intOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicContainer
import org.junit.jupiter.api.DynamicContainer.dynamicContainer
import org.junit.jupiter.api.DynamicNode
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory

/**
 * Every case of every file in golden/ (SPEC §8), through the Kotlin API, byte
 * for byte: the checks of the other SDKs' golden suites (bindings/wasm/test/
 * golden.mjs is the model). Records cross as JSON text, each by several
 * routes: the exact wire text where the file has one, the text of the JSON
 * object, and what the core's parser gives back. Expected values come from the
 * files, never from the code under test.
 */
class GoldenTest {
    private val files = GOLDEN.listFiles { f -> f.isFile && f.name.endsWith(".json") }!!.map { it.name }.sorted()

    @Test
    fun `golden holds the files this suite knows, and nothing it would skip`() {
        assertEquals(handlers.keys.sorted(), files)
    }

    @TestFactory
    fun golden(): List<DynamicContainer> = files.filter { it in handlers }.map { name ->
        val file = parseJson(GOLDEN.resolve(name).readText()).obj()
        val groups = file.getValue("testGroups").jsonArray.map { it.obj() }
        val count = groups.sumOf { it.getValue("tests").jsonArray.size }
        assertEquals(file.getValue("numberOfTests").jsonPrimitive.int, count, "$name: numberOfTests")
        dynamicContainer(name, groups.flatMap { g -> handlers.getValue(name)(g) })
    }

    private fun cases(g: JsonObject, name: String, check: (JsonObject, String) -> Unit): List<DynamicNode> =
        g.getValue("tests").jsonArray.map { it.obj() }.map { t ->
            val label = "$name tcId ${t.str("tcId")} (${t.str("comment")})"
            dynamicTest(label) { check(t, label) }
        }

    private val handlers: Map<String, (JsonObject) -> List<DynamicNode>> = mapOf(
        "canonical.json" to ::canonical,
        "canonical_v2.json" to ::canonicalV2,
        "legacy.json" to ::legacy,
        "read.json" to ::read,
        "verify.json" to ::verifyCases,
        "ring.json" to ::ring,
        "reject.json" to ::reject,
    )

    // v1 (SPEC §3.1): plain base64 signatures over the eight fields.
    private fun canonical(g: JsonObject): List<DynamicNode> {
        val verifier = keyed(g, Policy(listOf("v1"), emptyList()))
        val v2only = keyed(g, null)
        val key = g.str("hmac_key")
        val seed = g.str("ed25519_seed")
        val keyTest = dynamicTest("canonical: the group's seed has the group's public key") {
            assertEquals(g.str("ed25519_public"), ed25519PublicKey(seed))
        }
        return listOf(keyTest) + cases(g, "canonical") { t, at ->
            val e = t.getValue("expected").obj()
            val record = t.getValue("record").obj()
            val text = record.toString()
            for ((route, rec) in listOf("object" to text, "parsed" to parsePcs(text))) {
                val r = "$at, $route route"
                assertEquals(e.str("canonical"), utf8(canonicalPayload(rec, 1)), "$r: canonical")
                assertArrayEquals(e.str("canonical").toByteArray(), canonicalPayload(rec, 1), "$r: canonical bytes")
                assertEquals(e.str("digest_hex"), hex(digest(rec, 1)), "$r: digest")
                assertEquals(e.str("sig_hmac"), signHmac(rec, key, 1), "$r: hmac")
                assertEquals(e.str("sig_hmac"), signHmac(rec, key.toByteArray(), 1), "$r: hmac, key as bytes")
                assertEquals(listOf(e.str("sig_hmac"), e.str("sig_hmac")), signHmacMany(listOf(rec, rec), key, 1))
                assertEquals(e.str("sig_ed25519"), signEd25519(rec, seed, 1), "$r: ed25519")
                // The default is v2: another payload, a prefixed signature.
                assertNotEquals(e.str("canonical"), utf8(canonicalPayload(rec)), "$r: v2 payload differs")
                assertEquals(signHmac(rec, key, 2), signHmac(rec, key), "$r: v2 by default")
                assertTrue(Regex("^v2:[A-Za-z0-9+/]{43}=$").matches(signHmac(rec, key)), "$r: v2 sig")
            }
            assertEquals(e.str("pcs_id"), pcsId(record.str("merkle_root"), record.long("epoch"), record.str("shard_id")))
            assertEquals(!t.strings("flags").contains("PcsIdMismatch"), e.str("pcs_id") == record.str("pcs_id"))
            for (sig in listOf(e.str("sig_hmac"), e.str("sig_ed25519"))) {
                val signed = record.with("sig", sig)
                verifier.verify(signed.toString())
                verifier.verify(parsePcs(signed.toString()))
                for (f in SIGNED) {
                    throwsKind("signature_invalid", "sig", "$at: tampered $f") { verifier.verify(tamper(signed, f).toString()) }
                }
                // Fields outside the eight are not signed by v1.
                val extra = signed.with("v_star", jsonArrayOf(JsonPrimitive(9))).with("regime", "mixed")
                    .with("attempt", JsonPrimitive(99)).with("extra", "x")
                verifier.verify(extra.toString())
                assertEquals(1, verifier.verifyDetailed(signed.toString()).version)
                val err = throwsKind("unsupported_signature_version", "sig", "$at: v1 under v2-only") {
                    v2only.verify(signed.toString())
                }
                assertTrue(err is FractalException.UnsupportedSignatureVersion, "$at: ${err.javaClass}")
            }
        }
    }

    // v2 (SPEC §3.2): the whole record but its delivery fields, as sent.
    private fun canonicalV2(g: JsonObject): List<DynamicNode> {
        val verifier = keyed(g, null)
        val key = g.str("hmac_key")
        val seed = g.str("ed25519_seed")
        return cases(g, "canonical_v2") { t, at ->
            val e = t.getValue("expected").obj()
            assertEquals("valid", t.str("result"))
            val wire = t.str("record_text")
            val routes = listOf("record_text" to wire, "parsed" to parsePcs(wire), "object" to t.getValue("record").toString())
            for ((route, rec) in routes) {
                val r = "$at, $route route"
                assertEquals(e.str("canonical"), utf8(canonicalPayload(rec)), "$r: canonical")
                assertArrayEquals(e.str("canonical").toByteArray(), canonicalPayload(rec, 2), "$r: canonical bytes")
                assertEquals(e.str("digest_hex"), hex(digest(rec)), "$r: digest")
                assertEquals(e.str("sig_hmac"), signHmac(rec, key), "$r: hmac")
                assertEquals(e.str("sig_hmac"), signHmac(rec, key.toByteArray(), 2), "$r: hmac, key as bytes")
                assertEquals(listOf(e.str("sig_hmac")), signHmacMany(listOf(rec), key), "$r: hmac batch")
                assertEquals(e.str("sig_ed25519"), signEd25519(rec, seed), "$r: ed25519")
                val obj = parseJson(rec).obj()
                assertEquals(e.str("pcs_id"), pcsId(obj.str("merkle_root"), obj.long("epoch"), obj.str("shard_id")), "$r: pcs_id")
                for (sig in listOf(e.str("sig_hmac"), e.str("sig_ed25519"))) {
                    val signed = obj.with("sig", sig)
                    verifier.verify(signed.toString())
                    verifier.verify(parsePcs(signed.toString()))
                    assertEquals(SignatureMatch(2, null), verifier.verifyDetailed(signed.toString()))
                    for ((what, changed) in tamperings(signed)) {
                        throwsKind("signature_invalid", "sig", "$r: $what") { verifier.verify(changed.toString()) }
                    }
                    // Delivery fields are not signed.
                    val delivered = signed.with("attempt", JsonPrimitive(7)).with("sent_at", "2030-01-01T00:00:00Z")
                        .with("ft", JsonObject(mapOf("degraded" to JsonPrimitive(true))))
                    verifier.verify(delivered.toString())
                    // Without the prefix it reads as v1, which the policy refuses.
                    throwsKind("unsupported_signature_version", "sig", "$r: prefix dropped") {
                        verifier.verify(signed.with("sig", sig.substring(3)).toString())
                    }
                }
            }
        }
    }

    // SPEC §4.1: the seed's encodings of v1, accepted only where a policy lists them.
    private fun legacy(g: JsonObject): List<DynamicNode> {
        val v2only = keyed(g, null)
        val v1only = keyed(g, Policy(listOf("v1"), emptyList()))
        val byEncoding = listOf("seed-python", "seed-go").associateWith { keyed(g, Policy(listOf("v1"), listOf(it))) }
        return cases(g, "legacy") { t, at ->
            val e = t.getValue("expected").obj()
            assertEquals("valid", t.str("result"))
            val encoding = t.str("encoding")
            val accepting = byEncoding[encoding] ?: failWith("$at: unknown encoding $encoding")
            val text = t.getValue("record").toString()
            for ((route, rec) in listOf("object" to text, "parsed" to parsePcs(text))) {
                val r = "$at, $route route"
                assertEquals(e.str("canonical_v1"), utf8(canonicalPayload(rec, 1)), "$r: canonical v1")
                assertNotEquals(e.str("canonical_v1"), e.str("payload"))
                for (sig in listOf(e.str("sig_hmac"), e.str("sig_ed25519"))) {
                    val signed = parseJson(rec).obj().with("sig", sig).toString()
                    accepting.verify(signed)
                    assertEquals(SignatureMatch(1, encoding), accepting.verifyDetailed(signed), "$r: the encoding")
                    throwsKind("signature_invalid", "sig", "$r: v1, no encodings") { v1only.verify(signed) }
                    throwsKind("unsupported_signature_version", "sig", "$r: default policy") { v2only.verify(signed) }
                }
            }
        }
    }

    // SPEC §6.1: the Authorization header of a read.
    private fun read(g: JsonObject): List<DynamicNode> {
        val verifier = keyed(g, null)
        val key = g.str("hmac_key")
        val seed = g.str("ed25519_seed")
        return cases(g, "read") { t, at ->
            val tenant = t.str("tenant")
            val pcs = t.str("pcs_id")
            val now = t.long("now")
            if (t.str("result") == "valid") {
                val e = t.getValue("expected").obj()
                val time = t.long("t")
                assertEquals(e.str("digest_hex"), hex(readDigest(tenant, pcs, time)), "$at: digest")
                assertEquals(e.str("authorization_hmac"), readAuthorization(tenant, pcs, time, "hmac", key), "$at: hmac")
                assertEquals(e.str("authorization_hmac"), readAuthorization(tenant, pcs, time, "hmac", key.toByteArray()))
                assertEquals(e.str("authorization_ed25519"), readAuthorization(tenant, pcs, time, "ed25519", seed), "$at: ed25519")
                for (header in listOf(e.str("authorization_hmac"), e.str("authorization_ed25519"))) {
                    verifier.verifyRead(tenant, pcs, header, now)
                    // The header names one read: another pcs_id or tenant does not verify.
                    throwsKind("signature_invalid", "sig", "$at: other pcs_id") { verifier.verifyRead(tenant, "${pcs}0", header, now) }
                    throwsKind("signature_invalid", "sig", "$at: other tenant") { verifier.verifyRead("${tenant}x", pcs, header, now) }
                }
            } else {
                assertEquals("invalid", t.str("result"))
                val e = throwsKind(t.str("error_kind"), "sig", at) { verifier.verifyRead(tenant, pcs, t.strOrNull("header"), now) }
                assertTrue(e is FractalException.SignatureMissing || e is FractalException.SignatureInvalid, at)
            }
        }
    }

    private fun verifyCases(g: JsonObject): List<DynamicNode> {
        val params = g["params"]?.toString()
        return cases(g, "verify") { t, at ->
            val want = t.getValue("expected").obj()
            val text = t.getValue("record").toString()
            for ((route, rec) in listOf("object" to text, "parsed" to parsePcs(text))) {
                val r = "$at, $route route"
                val got = verify(rec, params)
                assertEquals(want.getValue("accepted").jsonPrimitive.boolean, got.accepted, "$r: accepted")
                assertEquals(want.getValue("escalated").jsonPrimitive.boolean, got.escalated, "$r: escalated")
                assertEquals(want["recomputed_D_hat"]?.jsonPrimitive?.doubleOrNull, got.recomputedDHat, "$r: recomputed_D_hat")
                assertEquals(want["recomputed_budget"]?.jsonPrimitive?.doubleOrNull, got.recomputedBudget, "$r: recomputed_budget")
                assertEquals(want.strOrNull("reason"), got.reason, "$r: reason")
                assertEquals(t.str("result") == "valid", got.accepted && !got.escalated, "$r: result")
                // The wire form is the server's: the same object the file holds.
                assertEquals(want, parseJson(got.toJson()), "$r: wire JSON")
            }
        }
    }

    private fun ring(g: JsonObject): List<DynamicNode> {
        val shards = g.getValue("shards").jsonArray.map { it.obj() }.map { s ->
            Shard(s.str("name"), s["weight"]?.jsonPrimitive?.intOrNull ?: 1, s["healthy"]?.jsonPrimitive?.booleanOrNull ?: true)
        }
        val ring = Ring.withShards(shards, g.getValue("vnodes").jsonPrimitive.int)
        return cases(g, "ring ${g.strOrNull("comment") ?: ""}") { t, at ->
            val key = t.str("key")
            val op = t.str("op")
            val run: () -> JsonElement = when (op) {
                "pick" -> { { JsonPrimitive(ring.pick(key)) } }
                "pick_n" -> { { JsonArray(ring.pickN(key, t.getValue("n").jsonPrimitive.int).map(::JsonPrimitive)) } }
                else -> failWith("$at: unknown op $op")
            }
            if (t.str("result") == "valid") {
                assertEquals(t.getValue("expected"), run(), at)
                if (op == "pick") assertEquals(t.str("expected"), ring.pick(key.toByteArray()), "$at: key as bytes")
            } else {
                val e = throwsKind(t.str("error_kind"), null, at) { run() }
                assertTrue(e is FractalException.Ring, at)
            }
        }
    }

    private fun reject(g: JsonObject): List<DynamicNode> {
        val key = g.str("hmac_key")
        return cases(g, "reject") { t, at ->
            assertEquals("invalid", t.str("result"))
            val input = t.str("input")
            val kind = t.str("error_kind")
            val field = t.strOrNull("field")
            when (val stage = t.str("stage")) {
                "parse" -> {
                    throwsKind(kind, field, at) { parsePcs(input) }
                    throwsKind(kind, field, "$at (validate)") { validate(input) }
                    throwsKind(kind, field, "$at (submit)") {
                        ClientCore("http://127.0.0.1:9", null, null, null, null, 2, SDK_VERSION).submit(input, 1)
                    }
                }
                "validate" -> {
                    parsePcs(input)
                    throwsKind(kind, field, at) { validate(input) }
                    throwsKind(kind, field, "$at (submit)") {
                        ClientCore("http://127.0.0.1:9", null, null, null, null, 2, SDK_VERSION).submit(input, 1)
                    }
                }
                "sign", "sign_v1" -> { // `sign`: the name of sign_v1 before contract v2
                    parsePcs(input)
                    throwsKind(kind, field, at) { canonicalPayload(input, 1) }
                    throwsKind(kind, field, at) { signHmac(input, key, 1) }
                }
                "sign_v2" -> {
                    parsePcs(input)
                    throwsKind(kind, field, at) { canonicalPayload(input) }
                    throwsKind(kind, field, at) { digest(input, 2) }
                    throwsKind(kind, field, at) { signHmac(input, key) }
                    throwsKind(kind, field, at) { signHmacMany(listOf(input), key) }
                }
                "verify_signature" -> {
                    val p = t["policy"]?.takeIf { it !is JsonNull }?.obj()
                    val policy = Policy(p?.strings("versions") ?: listOf("v2"), p?.strings("encodings") ?: emptyList())
                    val verifier = keyed(g, policy)
                    parsePcs(input)
                    throwsKind(kind, field, at) { verifier.verify(input) }
                    throwsKind(kind, field, at) { verifier.verifyDetailed(input) }
                }
                "key" -> when (t.str("key_type")) {
                    "seed" -> {
                        throwsKind(kind, null, at) { ed25519PublicKey(input) }
                        throwsKind(kind, null, at) { signEd25519(MINIMAL, input) }
                        throwsKind(kind, null, at) { readAuthorization("default", "p", 1, "ed25519", input) }
                    }
                    "public" -> {
                        throwsKind(kind, null, at) { Verifier().addEd25519PublicKey(input) }
                        throwsKind(kind, null, at) { Verifier().addKey("ed25519", input) }
                    }
                    else -> failWith("$at: unknown key_type ${t.str("key_type")}")
                }
                else -> failWith("$at: unknown stage $stage")
            }
        }
    }

    companion object {
        val SIGNED = listOf("pcs_id", "merkle_root", "epoch", "shard_id", "D_hat", "coh_star", "r", "budget")
        val KNOWN = setOf(
            "pcs_id", "schema", "version", "shard_id", "epoch", "attempt", "sent_at", "seed", "scales", "N_j",
            "coh_star", "v_star", "D_hat", "r", "regime", "budget", "merkle_root", "sig", "ft",
        )
        const val MINIMAL = """{"pcs_id":"p","schema":"fractal-lba-kakeya","version":"0.1","merkle_root":"m","epoch":1,""" +
            """"shard_id":"s","D_hat":1,"coh_star":0.5,"r":0.5,"budget":0.5}"""

        /** A verifier holding the group's keys, under `policy` (null: the default, v2 only). */
        fun keyed(g: JsonObject, policy: Policy?): Verifier {
            val v = Verifier(policy)
            g.strOrNull("hmac_key")?.let { v.addHmacKey(it) }
            v.addEd25519PublicKey(g.str("ed25519_public"))
            return v
        }

        /** A value that changes a signed field's canonical form. */
        fun tamper(record: JsonObject, field: String): JsonObject = when (field) {
            "epoch" -> record.with("epoch", JsonPrimitive(record.long("epoch").let { if (it == 0L) 1L else it - 1 }))
            "pcs_id", "merkle_root", "shard_id" -> {
                // The last code point replaced, not one appended: 128 bytes is the limit.
                val s = record.str(field)
                val cut = if (s.isEmpty()) 0 else s.offsetByCodePoints(s.length, -1)
                record.with(field, s.substring(0, cut) + if (s.endsWith("x")) "y" else "x")
            }
            else -> record.with(field, JsonPrimitive(if (record[field]?.jsonPrimitive?.doubleOrNull == 0.5) 0.25 else 0.5))
        }

        /** Another integer ≥ 1 and within ±(2^53−1), so the record stays signable. */
        private fun bump(x: JsonElement): JsonPrimitive {
            val n = BigInteger(x.jsonPrimitive.content)
            return JsonPrimitive(if (n > BigInteger.ONE) n - BigInteger.ONE else n + BigInteger.ONE)
        }

        /**
         * Every change v2 signs (SPEC §3.2): the eight v1 fields, regime, scales,
         * N_j, v_star, seed, schema, version, an unknown field (added, changed,
         * removed), an optional field added or removed.
         */
        fun tamperings(signed: JsonObject): List<Pair<String, JsonObject>> {
            val out = SIGNED.map { "v1 field $it" to tamper(signed, it) }.toMutableList()
            fun w(what: String, changed: JsonObject) = out.add(what to changed)
            w("regime", signed.with("regime", if (signed.strOrNull("regime") == "sticky") "mixed" else "sticky"))
            w("schema", signed.with("schema", signed.str("schema") + "x"))
            w("version", signed.with("version", signed.str("version") + "x"))
            w("seed", signed.with("seed", signed["seed"]?.let(::bump) ?: JsonPrimitive(1)))
            val vStar = signed["v_star"]?.jsonArray
            w(
                "v_star",
                signed.with(
                    "v_star",
                    if (vStar.isNullOrEmpty()) jsonArrayOf(JsonPrimitive(0.5))
                    else JsonArray(listOf(JsonPrimitive(vStar[0].jsonPrimitive.content.toDouble() + 0.5)) + vStar.drop(1)),
                ),
            )
            val scales = signed["scales"]?.jsonArray ?: JsonArray(emptyList())
            if (scales.size < 64) {
                val have = scales.map { it.jsonPrimitive.content.toDouble() }.toSet()
                var s = 1
                while (s.toDouble() in have) s++
                w("scales", signed.with("scales", JsonArray(scales + JsonPrimitive(s))))
            }
            val nj = signed["N_j"]?.let { it as? JsonObject }
            if (!nj.isNullOrEmpty()) {
                val k = nj.keys.first()
                w("N_j", signed.with("N_j", nj.with(k, bump(nj.getValue(k)))))
            }
            w("unknown field added", signed.with("zz_tamper", JsonPrimitive(true)))
            for (k in signed.keys.filter { it !in KNOWN }) {
                w("unknown field $k changed", signed.with(k, jsonArrayOf(signed.getValue(k))))
                w("unknown field $k removed", signed.without(k))
            }
            for (k in listOf("regime", "v_star", "seed")) {
                if (k in signed) w("optional $k removed", signed.without(k))
            }
            return out
        }
    }
}
