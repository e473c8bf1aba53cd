// SPEC §11: the audit chain.

import { verify as edVerify } from "node:crypto";
import { check, load, tally } from "./common.mjs";
import { edB64, edPrivate, edPublic, jcs, sha256, strictB64, verdict } from "./payloads.mjs";
import { at } from "./reject.mjs";

export const AUDIT_GENESIS = "0".repeat(64);
export const sealMessage = (s) => Buffer.from(`fractal-lba/audit-seal/v1\n${s.segment}\n${s.first_seq}\n${s.last_seq}\n${s.last_hash}`, "utf8");
export const ENTRY_KEYS = ["at", "pcs_id", "prev", "record_sha256", "region", "result", "seq", "status", "tenant"];
export const SEAL_KEYS = ["first_seq", "last_hash", "last_seq", "public_key", "segment", "sig"];
export const hasKeys = (o, keys) => o !== null && typeof o === "object" && JSON.stringify(Object.keys(o).sort()) === JSON.stringify(keys);

export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** SPEC §11, written from the text: segments in index order from 0 (or after the
 * anchor seal), each seal signed by `pub` over its message, entries numbered
 * without gaps, each prev the SHA-256 of the entry before, each seal's last_hash
 * the hash of its last entry. For a broken link the entry whose bytes no longer
 * match what follows it is named. Returns the summary or the first bad object. */
export function auditVerify(segments, pubB64, anchorText) {
  const pub = edPublic(pubB64);
  const sealOk = (s) => strictB64(s.sig) !== null && edVerify(null, sealMessage(s), pub, strictB64(s.sig));
  let prev = AUDIT_GENESIS;
  let next = 0;
  let index = 0;
  if (anchorText != null) {
    const a = parseJson(anchorText);
    const at = segments.length ? segments[0].index - 1 : 0;
    if (!hasKeys(a, SEAL_KEYS) || !sealOk(a)) return { object: "seal", segment: at, seq: null };
    prev = a.last_hash;
    next = a.last_seq + 1;
    index = a.segment + 1;
  }
  let entries = 0;
  let lastSeq = null;
  let tail = null;
  for (let i = 0; i < segments.length; i++) {
    const g = segments[i];
    if (g.index !== index) return { object: "segment", segment: index, seq: null };
    index++;
    const bad = (object, seq = null) => ({ object, segment: g.index, seq });
    if (g.seal == null) {
      if (i === segments.length - 1 && g.entries != null) {
        tail = g.index;
        break;
      }
      return bad("seal");
    }
    const s = parseJson(g.seal);
    if (!hasKeys(s, SEAL_KEYS) || s.segment !== g.index || s.public_key !== pubB64 || !sealOk(s)) return bad("seal");
    if (s.first_seq !== next || s.last_seq < s.first_seq) return bad("seal");
    if (g.entries == null) return bad("segment");
    if (g.entries.length && !g.entries.endsWith("\n")) return bad("entry", next);
    const lines = g.entries.length ? g.entries.slice(0, -1).split("\n") : [];
    const hashOf = (line) => sha256(Buffer.from(line, "utf8")).toString("hex");
    const recorded = (k) => (k + 1 < lines.length ? parseJson(lines[k + 1])?.prev : s.last_hash);
    for (let k = 0; k < lines.length; k++) {
      const e = parseJson(lines[k]);
      if (!hasKeys(e, ENTRY_KEYS) || jcs(e) !== lines[k]) return bad("entry", next);
      if (e.seq !== next) return bad("entry", next);
      if (e.prev !== prev) return k > 0 && recorded(k) === hashOf(lines[k]) ? bad("entry", next - 1) : bad("entry", next);
      if (next > s.last_seq) return bad("entry", next);
      prev = hashOf(lines[k]);
      next++;
      entries++;
    }
    if (next !== s.last_seq + 1) return bad("entry", next);
    if (prev !== s.last_hash) return bad("entry", s.last_seq);
    lastSeq = s.last_seq;
  }
  return { ok: true, entries, last_seq: lastSeq, last_hash: prev, unsealed_tail: tail };
}

export function checkAudit() {
  const file = load("server/audit.json");
  for (const g of file.testGroups) {
    for (const t of g.tests) {
      const where = `server/audit.json #${t.tcId} (${t.comment})`;
      let ok = true;
      if (g.type === "entries") {
        const bytes = jcs(t.entry);
        ok &&= check(where, "entry keys", hasKeys(t.entry, ENTRY_KEYS), true);
        ok &&= check(where, "entry bytes", bytes, t.entry_bytes);
        ok &&= check(where, "entry sha256", sha256(Buffer.from(bytes, "utf8")).toString("hex"), t.entry_sha256);
      } else if (g.type === "seals") {
        const seal = JSON.parse(t.seal_bytes);
        const msg = sealMessage(t);
        ok &&= check(where, "message", msg.toString("utf8"), t.message);
        ok &&= check(where, "seal fields", [seal.segment, seal.first_seq, seal.last_seq, seal.last_hash], [t.segment, t.first_seq, t.last_seq, t.last_hash]);
        ok &&= check(where, "seal bytes", jcs(seal), t.seal_bytes);
        ok &&= check(where, "public key", seal.public_key, g.ed25519_public);
        ok &&= check(where, "signature (Ed25519 is deterministic)", edB64(edPrivate(g.ed25519_seed), msg), seal.sig);
        ok &&= check(where, "signature verifies", edVerify(null, msg, edPublic(g.ed25519_public), Buffer.from(seal.sig, "base64")), true);
      } else if (g.type === "chains") {
        const got = auditVerify(t.segments, g.ed25519_public, t.anchor);
        if (t.result === "valid") {
          ok &&= check(where, "verdict", jcs(got), jcs({ ok: true, ...t.expected }));
        } else {
          ok &&= check(where, "first bad", got, t.first_bad);
        }
      } else {
        ok = check(where, "group type", g.type, "entries|seals|chains");
      }
      if (ok) tally.passed++;
    }
  }
}
