// reject.json: every refusal judged on its own.

import { check, load, tally } from "./common.mjs";
import { canonical, edPublic, isEdwardsPoint, pcsId, scan, strictB64, unsafeIntegers, verdict } from "./payloads.mjs";

// SPEC §1 types, judged on the text (JSON.parse loses integers beyond 2^53).
export const REQUIRED = ["pcs_id", "schema", "version", "shard_id", "epoch", "merkle_root", "coh_star", "D_hat", "r", "budget"];
export const I64 = [-(2n ** 63n), 2n ** 63n - 1n];
export const isInt = (lit, [lo, hi]) => /^-?\d+$/.test(lit) && BigInt(lit) >= lo && BigInt(lit) <= hi;
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const isStr = (v) => typeof v === "string" && !LONE_SURROGATE.test(v);
export const isNum = (v) => typeof v === "number";

/** The literal text of `"key": <number>` in `text`, or null. */
export function numberLiteral(text, key) {
  const m = new RegExp(`"${key}"\\s*:\\s*(-?[0-9.eE+-]+)`).exec(text);
  return m ? m[1] : null;
}

export const KNOWN = new Set(["pcs_id", "schema", "version", "shard_id", "epoch", "attempt", "sent_at", "seed", "scales", "N_j", "coh_star", "v_star", "D_hat", "r", "regime", "budget", "merkle_root", "sig", "ft"]);
export const MAX_ENTRIES = 64;
export const utf8Len = (s) => Buffer.byteLength(s, "utf8");

/** The value at a path such as `zz_unknown.a[0]` (undefined when absent). */
export function at(rec, path) {
  const top = /^[^.[]*/.exec(path)[0];
  let v = rec[top];
  for (const m of path.slice(top.length).matchAll(/\.([^.[]+)|\[(\d+)\]/g)) {
    if (v === null || typeof v !== "object") return undefined;
    v = m[1] !== undefined ? v[m[1]] : v[Number(m[2])];
  }
  return v;
}

/** Whether `field` (a path such as `epoch`, `scales[1]`, `N_j.2`, `ft.outbox_seq`,
 * `zz_unknown.a[0]`) is malformed in the record text (SPEC §1): missing when
 * required, a key given twice in it, of the wrong type, past the limits, out of
 * range, not finite, or a string with a lone surrogate. */
export function fieldMalformed(text, field) {
  let rec;
  try {
    rec = JSON.parse(text);
  } catch {
    return false;
  }
  if (scan(text).duplicates.some((d) => (d.path === "" ? d.key : d.path) === field)) return true;
  const top = /^[^.[]*/.exec(field)[0];
  const rest = field.startsWith(`${top}.`) ? field.slice(top.length + 1) : undefined;
  if (!KNOWN.has(top)) {
    const v = at(rec, field);
    return (typeof v === "number" && !Number.isFinite(v)) || (typeof v === "string" && LONE_SURROGATE.test(v));
  }
  if (!(top in rec)) return REQUIRED.includes(top);
  const v = rec[top];
  const index = /^scales\[(\d+)\]$/.exec(field);
  if (index) {
    const x = v[Number(index[1])];
    return !Number.isInteger(x) || x < 1;
  }
  switch (top) {
    case "epoch": {
      const lit = numberLiteral(text, "epoch");
      return lit === null || !isInt(lit, [0n, 2n ** 53n - 1n]);
    }
    case "seed":
    case "attempt": {
      const lit = numberLiteral(text, top);
      return lit === null || !isInt(lit, I64);
    }
    case "scales":
      return !Array.isArray(v) || v.length > MAX_ENTRIES || !v.every(Number.isInteger);
    case "N_j": {
      if (v === null || typeof v !== "object" || Array.isArray(v)) return rest === undefined;
      if (rest !== undefined) {
        const scales = Array.isArray(rec.scales) ? rec.scales.map(String) : [];
        return !Number.isInteger(v[rest]) || v[rest] < 1 || !scales.includes(rest);
      }
      return Object.keys(v).length > MAX_ENTRIES || !Object.values(v).every(Number.isInteger);
    }
    case "v_star":
      return !Array.isArray(v) || v.length > MAX_ENTRIES || !v.every((x) => isNum(x) && Number.isFinite(x));
    case "coh_star":
    case "D_hat":
    case "r":
    case "budget":
      return !isNum(v) || !Number.isFinite(v);
    case "shard_id":
    case "merkle_root":
      return !isStr(v) || utf8Len(v) < 1 || utf8Len(v) > 128;
    case "ft": {
      if (v === null) return rest === undefined;
      if (typeof v !== "object" || Array.isArray(v)) return rest === undefined;
      const types = { outbox_seq: Number.isInteger, degraded: (x) => typeof x === "boolean", clock_skew_ms: Number.isInteger, fallbacks: (x) => Array.isArray(x) && x.every(isStr) };
      if (rest !== undefined) return rest in v && v[rest] !== null && !types[rest](v[rest]);
      return false;
    }
    default:
      return !isStr(v);
  }
}

/** What the oracle can decide on its own for each stage; the rest is the
 * core's business (parse errors name fields through the core's parser). */
export function checkReject() {
  const doc = load("reject.json");
  for (const g of doc.testGroups) {
    const hmacKey = Buffer.from(g.hmac_key, "utf8");
    const pub = edPublic(g.ed25519_public);
    for (const t of g.tests) {
      const where = `reject.json #${t.tcId} (${t.comment})`;
      let ok = check(where, "result", t.result, "invalid");
      if (t.stage === "parse" && t.error_kind === "invalid_json") {
        // Not one JSON object, or (SPEC §1: a lone surrogate anywhere) a key
        // that holds one: there is no field to name.
        let malformed = true;
        try {
          const v = JSON.parse(t.input);
          malformed = v === null || typeof v !== "object" || Array.isArray(v) || scan(t.input).loneSurrogateKey;
        } catch {
          malformed = true;
        }
        ok &&= check(where, "input is not one well-formed JSON object", malformed, true);
      } else if (t.stage === "parse") {
        ok &&= check(where, `field ${t.field} is malformed (SPEC §1)`, fieldMalformed(t.input, t.field), true);
      } else if (t.stage === "sign_v1") {
        const rec = JSON.parse(t.input);
        let failed = false;
        try {
          canonical(rec);
        } catch {
          failed = true;
        }
        ok &&= check(where, "v1 payload refused", failed, true);
      } else if (t.stage === "sign_v2") {
        ok &&= check(where, "records parses", fieldMalformed(t.input, t.field), false);
        ok &&= check(where, `integer literal at ${t.field} outside ±(2^53−1)`, unsafeIntegers(t.input).includes(t.field), true);
      } else if (t.stage === "verify_signature") {
        ok &&= check(where, "policy", Array.isArray(t.policy?.versions) && Array.isArray(t.policy?.encodings), true);
        ok &&= check(where, "signature verdict", verdict(JSON.parse(t.input), t.policy, hmacKey, pub), t.error_kind);
        ok &&= check(where, "field", t.field, "sig");
      } else if (t.stage === "key") {
        // Encoding and length, then (public keys) whether the bytes decode to a
        // curve point: OpenSSL imports any 32 bytes and only fails at verify time.
        const raw = strictB64(t.input);
        const refused = !raw || raw.length !== 32 || (t.key_type === "public" && !isEdwardsPoint(raw));
        ok &&= check(where, "key refused", refused, true);
      } else if (t.stage === "validate") {
        const rec = JSON.parse(t.input);
        const f = t.field;
        const bad = {
          coh_star: !(rec.coh_star >= 0 && rec.coh_star <= 1.05),
          r: !(rec.r >= 0 && rec.r <= 1),
          budget: !(rec.budget >= 0 && rec.budget <= 1),
          schema: rec.schema !== "fractal-lba-kakeya",
          pcs_id: rec.pcs_id !== pcsId(rec),
          regime: !["sticky", "mixed", "non_sticky"].includes(rec.regime),
          version: rec.version === "",
          scales: rec.scales.length === 0,
        };
        ok &&= check(where, `field ${f} is invalid`, bad[f] === true, true);
      } else {
        ok = check(where, "stage", t.stage, "parse|validate|sign_v1|sign_v2|verify_signature|key");
      }
      if (ok) tally.passed++;
    }
  }
}
