// The Kotlin SDK's agent for the cross-SDK end-to-end tests (e2e/): reads ONE
// JSON command from stdin, runs it with the SDK, and writes ONE JSON object on
// one line to stdout. Exit code 0 whenever the command ran, also when the SDK
// rejected it; non-zero only if the agent itself is broken.
//
// Command and output: see e2e/agents/agent.mjs. `make e2e-agent-kotlin` writes
// build/e2e-agent-kotlin, which runs this class on the test classpath.
// Keys are never echoed: errors carry the core's messages, which name fields only.
@file:JvmName("Agent")

package io.github.fractallba.e2e

import io.github.fractallba.FractalClient
import io.github.fractallba.FractalException
import io.github.fractallba.RetrySettings
import io.github.fractallba.coreMessage
import io.github.fractallba.kind
import io.github.fractallba.signEd25519
import io.github.fractallba.signHmac
import io.github.fractallba.status
import io.github.fractallba.toJson
import java.math.BigInteger
import java.time.Duration
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive

private fun JsonObject.text(k: String): String? = get(k)?.takeIf { it !is JsonNull }?.jsonPrimitive?.content
private fun JsonObject.number(k: String): BigInteger? = text(k)?.let(::BigInteger)

private class AgentBroken(msg: String) : Exception(msg)

private fun clientOf(cmd: JsonObject): FractalClient {
    val b = FractalClient.builder(cmd.text("url") ?: throw AgentBroken("no url"))
    cmd.text("tenant")?.let { b.tenant(it) }
    val alg = cmd.text("alg")
    val key = cmd.text("key")
    if (alg != null && key != null) b.signingKey(alg, key)
    cmd.number("timeout_ms")?.let { b.timeout(Duration.ofMillis(it.toLong())) }
    (cmd["retry"] as? JsonObject)?.let { r ->
        b.retry(RetrySettings(r.number("max_retries")?.toInt(), r.number("base_delay_ms")?.toLong(), r.number("max_delay_ms")?.toLong()))
    }
    // A 64-bit seed as Rust casts it: two's complement.
    cmd.number("jitter_seed")?.let { b.jitterSeed(it.toLong()) }
    return b.build()
}

private fun ok(vararg fields: Pair<String, JsonElement>) = JsonObject(mapOf("ok" to JsonPrimitive(true)) + fields)

private fun run(cmd: JsonObject): JsonObject {
    val record = cmd["record"]?.takeIf { it !is JsonNull }?.jsonObject
    return when (cmd.text("op")) {
        "sign" -> {
            val rec = record ?: throw AgentBroken("no record")
            val key = cmd.text("key") ?: throw AgentBroken("no key")
            val sig = when (val alg = cmd.text("alg")) {
                "hmac" -> signHmac(rec.toString(), key)
                "ed25519" -> signEd25519(rec.toString(), key)
                else -> throw FractalException.InvalidArgument("alg", "must be \"hmac\" or \"ed25519\" to sign, got $alg")
            }
            ok("record" to JsonObject(rec + ("sig" to JsonPrimitive(sig))))
        }
        "submit" -> {
            val out = runBlocking { clientOf(cmd).submit((record ?: throw AgentBroken("no record")).toString()) }
            ok(
                "status" to JsonPrimitive(out.status),
                "result" to Json.parseToJsonElement(out.result.toJson()),
                "dedup_hit" to JsonPrimitive(out.dedupHit),
            )
        }
        "get" -> {
            val got = runBlocking { clientOf(cmd).get(cmd.text("pcs_id") ?: throw AgentBroken("no pcs_id")) }
            ok("result" to (got?.let { Json.parseToJsonElement(it.toJson()) } ?: JsonNull))
        }
        "health" -> ok("healthy" to JsonPrimitive(runBlocking { clientOf(cmd).health() }))
        else -> throw AgentBroken("unknown op ${cmd["op"]}")
    }
}

fun main() {
    val cmd = try {
        Json.parseToJsonElement(System.`in`.readBytes().toString(Charsets.UTF_8)).jsonObject
    } catch (e: Exception) {
        System.err.println("agent: cannot read the command: ${e.message}")
        exitProcess(2)
    }
    val out = try {
        run(cmd)
    } catch (e: FractalException) {
        val error = mapOf(
            "type" to JsonPrimitive(e.javaClass.simpleName),
            "kind" to JsonPrimitive(e.kind),
            "status" to (e.status?.let(::JsonPrimitive) ?: JsonNull),
            "message" to JsonPrimitive(e.coreMessage),
        )
        JsonObject(mapOf("ok" to JsonPrimitive(false), "error" to JsonObject(error)))
    } catch (e: Throwable) {
        System.err.println("agent: $e")
        e.printStackTrace()
        exitProcess(2)
    }
    println(out.toString())
    System.out.flush()
    exitProcess(0)
}
