// SPEC §6.1: signed reads.

import { createHmac, verify as edVerify } from "node:crypto";
import { check, load, tally } from "./common.mjs";
import { edB64, groupKeys, hmacB64, sha256, strictB64, verdict } from "./payloads.mjs";
import { at } from "./reject.mjs";

export const readDigest = (tenant, id, t) => sha256(Buffer.from(`fractal-lba/read/v1\n${tenant}\n${id}\n${t}`, "utf8"));

/** The verdict on an Authorization header per SPEC §6.1's grammar, read strictly. */
export function readVerdict(header, tenant, id, now, skew, hmacKey, pub) {
  if (header === null || header === undefined || header.trim() === "") return "signature_missing";
  const m = /^Fractal t=(0|[1-9]\d*), sig=(\S+)$/.exec(header);
  if (!m) return "signature_invalid";
  const t = BigInt(m[1]);
  const diff = t > BigInt(now) ? t - BigInt(now) : BigInt(now) - t;
  if (diff > BigInt(skew)) return "signature_invalid";
  const raw = strictB64(m[2]);
  const digest = readDigest(tenant, id, m[1]);
  const ok =
    raw !== null &&
    ((raw.length === 32 && raw.equals(createHmac("sha256", hmacKey).update(digest).digest())) ||
      (raw.length === 64 && edVerify(null, digest, pub, raw)));
  return ok ? "valid" : "signature_invalid";
}

export function checkRead() {
  const doc = load("read.json");
  for (const g of doc.testGroups) {
    const { priv, pub, hmacKey } = groupKeys("read.json", g);
    let ok = check("read.json group", "skew_secs", g.skew_secs, 300);
    for (const t of g.tests) {
      const where = `read.json #${t.tcId} (${t.comment})`;
      ok = true;
      if (t.result === "valid") {
        const e = t.expected;
        const digest = readDigest(t.tenant, t.pcs_id, t.t);
        ok &&= check(where, "digest_hex", digest.toString("hex"), e.digest_hex);
        ok &&= check(where, "authorization_hmac", `Fractal t=${t.t}, sig=${hmacB64(hmacKey, digest)}`, e.authorization_hmac);
        ok &&= check(where, "authorization_ed25519", `Fractal t=${t.t}, sig=${edB64(priv, digest)}`, e.authorization_ed25519);
        for (const h of [e.authorization_hmac, e.authorization_ed25519]) {
          ok &&= check(where, "accepted at now", readVerdict(h, t.tenant, t.pcs_id, t.now, g.skew_secs, hmacKey, pub), "valid");
        }
      } else {
        ok &&= check(where, "result", t.result, "invalid");
        ok &&= check(where, "verdict", readVerdict(t.header, t.tenant, t.pcs_id, t.now, g.skew_secs, hmacKey, pub), t.error_kind);
      }
      if (ok) tally.passed++;
    }
  }
}
