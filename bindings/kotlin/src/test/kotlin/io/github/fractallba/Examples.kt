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
