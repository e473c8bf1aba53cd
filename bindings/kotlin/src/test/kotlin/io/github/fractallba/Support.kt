package io.github.fractallba

import java.io.File
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail

/** golden/ of this checkout (the pom passes it as `golden.dir`). */
val GOLDEN: File = File(System.getProperty("golden.dir") ?: "../../golden").canonicalFile

fun parseJson(text: String): JsonElement = Json.parseToJsonElement(text)

fun JsonElement.obj(): JsonObject = jsonObject
fun JsonElement.str(): String = jsonPrimitive.content
fun JsonObject.str(k: String): String = getValue(k).jsonPrimitive.content
fun JsonObject.strOrNull(k: String): String? = get(k)?.takeIf { it !is JsonNull }?.jsonPrimitive?.content
fun JsonObject.long(k: String): Long = getValue(k).jsonPrimitive.content.toLong()
fun JsonObject.strings(k: String): List<String> = get(k)?.jsonArray?.map { it.str() } ?: emptyList()
fun JsonObject.with(k: String, v: JsonElement): JsonObject = JsonObject(this + (k to v))
fun JsonObject.with(k: String, v: String): JsonObject = with(k, JsonPrimitive(v))
fun JsonObject.without(k: String): JsonObject = JsonObject(this - k)
fun jsonArrayOf(vararg e: JsonElement) = JsonArray(e.toList())

fun hex(b: ByteArray): String = b.joinToString("") { "%02x".format(it) }
fun utf8(b: ByteArray): String = String(b, Charsets.UTF_8)

/** Runs `block`, which must throw the core error `kind` naming `field` (when given). */
fun throwsKind(kind: String, field: String?, label: String, block: () -> Unit): FractalException {
    val caught = try {
        block()
        null
    } catch (e: FractalException) {
        e
    }
    assertNotNull(caught, "$label: expected a $kind error, got none")
    caught!!
    assertEquals(kind, caught.kind, "$label: kind (${caught.coreMessage})")
    if (field != null) {
        assertEquals(field, caught.field, "$label: field (${caught.coreMessage})")
        assertTrue(caught.coreMessage.contains(field), "$label: the message names the field: ${caught.coreMessage}")
        assertTrue(caught.message!!.isNotEmpty(), "$label: a message")
    }
    return caught
}

fun failWith(msg: String): Nothing {
    fail<Unit>(msg)
    throw AssertionError(msg)
}
