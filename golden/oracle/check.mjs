// The golden-vector oracle: recomputes every expected value in golden/*.json
// with an implementation independent of the Rust core — ECMAScript's own
// JSON.stringify and Number#toString for the canonical payload (SPEC §3),
// node:crypto for SHA-256, HMAC and Ed25519 (SPEC §2, §4), and plain JavaScript
// for the verification engine (SPEC §5) and the ring (SPEC §7).
//
//   node golden/oracle/check.mjs [golden-dir]
//
// Node 20, no npm dependencies. Exits 1 with a diff on any disagreement.

import { createHash, createHmac, createPrivateKey, createPublicKey, sign, verify as edVerify } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), "..");
let passed = 0;
const failures = [];

function check(where, what, got, want) {
  const a = JSON.stringify(got);
  const b = JSON.stringify(want);
  if (a === b) return true;
  failures.push(`${where}: ${what}\n    oracle: ${a}\n    golden: ${b}`);
  return false;
}

function load(name) {
  const doc = JSON.parse(readFileSync(join(dir, name), "utf8"));
  const tests = doc.testGroups.flatMap((g) => g.tests);
  if (doc.numberOfTests !== tests.length) {
    failures.push(`${name}: numberOfTests is ${doc.numberOfTests}, the file holds ${tests.length}`);
  }
  const ids = new Set(tests.map((t) => t.tcId));
  if (ids.size !== tests.length) failures.push(`${name}: tcId values are not unique`);
  for (const t of tests) {
    for (const f of t.flags) if (!(f in doc.notes)) failures.push(`${name} #${t.tcId}: flag ${f} has no note`);
  }
  return doc;
}

// ------------------------------------------------------------------ §2–§4

const sha256 = (bytes) => createHash("sha256").update(bytes).digest();

/** roundHalfAwayFromZero(x × 1e9) / 1e9 in binary64; −0 → 0. Math.round would
 * round −2.5 to −2 (half up), so the tie is decided on the magnitude. */
function round9(x) {
  const y = x * 1e9;
  const a = Math.abs(y);
  let r = Math.floor(a);
  if (a - r >= 0.5) r += 1; // a − floor(a) is exact in binary64
  const out = (y < 0 ? -r : r) / 1e9;
  return out === 0 ? 0 : out;
}

function signedNumber(x) {
  if (typeof x !== "number" || !Number.isFinite(x)) throw new Error("not a finite number");
  const r = round9(x);
  if (!Number.isFinite(r)) throw new Error("round9 is not finite");
  return r;
}

function canonical(rec) {
  // Insertion order is SPEC §3's sorted order; JSON.stringify keeps it.
  return JSON.stringify({
    D_hat: signedNumber(rec.D_hat),
    budget: signedNumber(rec.budget),
    coh_star: signedNumber(rec.coh_star),
    epoch: rec.epoch,
    merkle_root: rec.merkle_root,
    pcs_id: rec.pcs_id,
    r: signedNumber(rec.r),
    shard_id: rec.shard_id,
  });
}

const pcsId = (rec) => sha256(Buffer.from(`${rec.merkle_root}|${rec.epoch}|${rec.shard_id}`, "utf8")).toString("hex");

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

function strictB64(s) {
  if (typeof s !== "string" || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  const buf = Buffer.from(s, "base64");
  return buf.toString("base64") === s ? buf : null; // rejects non-zero trailing bits
}

function edPrivate(seedB64) {
  const seed = strictB64(seedB64);
  if (!seed || seed.length !== 32) throw new Error("seed is not base64 of 32 bytes");
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
}

function edPublic(publicB64) {
  const raw = strictB64(publicB64);
  if (!raw || raw.length !== 32) throw new Error("public key is not base64 of 32 bytes");
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: "der", type: "spki" });
}

// RFC 8032 §5.1.3 point decoding, enough to tell whether 32 bytes are a point.
const P = 2n ** 255n - 19n;
const modp = (x) => ((x % P) + P) % P;
function powmod(b, e) {
  let r = 1n;
  b = modp(b);
  for (; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
  return r;
}
const D = modp(-121665n * powmod(121666n, P - 2n));
function isEdwardsPoint(bytes) {
  const le = Buffer.from(bytes).reverse();
  const signBit = (le[0] & 0x80) !== 0;
  le[0] &= 0x7f;
  const y = BigInt("0x" + le.toString("hex"));
  if (y >= P) return false;
  const x2 = modp((y * y - 1n) * powmod(D * y * y + 1n, P - 2n));
  if (x2 === 0n) return !signBit;
  return powmod(x2, (P - 1n) / 2n) === 1n;
}

function checkCanonical() {
  const doc = load("canonical.json");
  for (const g of doc.testGroups) {
    const priv = edPrivate(g.ed25519_seed);
    const pub = createPublicKey(priv).export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
    check("canonical.json group", "ed25519_public of the seed", pub, g.ed25519_public);
    const hmacKey = Buffer.from(g.hmac_key, "utf8");
    for (const t of g.tests) {
      const where = `canonical.json #${t.tcId} (${t.comment})`;
      const e = t.expected;
      let ok = check(where, "pcs_id", pcsId(t.record), e.pcs_id);
      ok &&= check(where, "PcsIdMismatch flag", t.record.pcs_id !== e.pcs_id, t.flags.includes("PcsIdMismatch"));
      let payload;
      try {
        payload = canonical(t.record);
      } catch (err) {
        ok = check(where, "canonical payload", `error: ${err.message}`, e.canonical);
      }
      if (payload !== undefined) {
        ok &&= check(where, "canonical payload", payload, e.canonical);
        const digest = sha256(Buffer.from(payload, "utf8"));
        ok &&= check(where, "digest_hex", digest.toString("hex"), e.digest_hex);
        ok &&= check(where, "sig_hmac", createHmac("sha256", hmacKey).update(digest).digest("base64"), e.sig_hmac);
        ok &&= check(where, "sig_ed25519", sign(null, digest, priv).toString("base64"), e.sig_ed25519);
      }
      ok &&= check(where, "result", t.result, "valid");
      if (ok) passed++;
    }
  }
}

// ------------------------------------------------------------------ §5

const DEFAULTS = { tol_d: 0.15, tol_coh: 0.05, alpha: 0.3, beta: 0.5, gamma: 0.2, base: 0.1, d0: 2.2, budget_tol: 0.01 };

/** Returns [recomputed D_hat, null] or [null, why]. */
function theilSen(rec) {
  const scales = rec.scales;
  if (scales.length < 2) return [null, "fewer than 2 scales"];
  const pts = [];
  for (const s of scales) {
    const n = rec.N_j[String(s)];
    if (n === undefined || !(n > 0)) return [null, `N_j entry for ${s} missing or not positive`];
    pts.push([Math.log2(s), Math.log2(n)]);
  }
  const slopes = [];
  for (let i = 0; i < pts.length; i++) {
    for (let j = i + 1; j < pts.length; j++) {
      const dx = pts[j][0] - pts[i][0];
      if (Math.abs(dx) < 1e-9) continue;
      slopes.push((pts[j][1] - pts[i][1]) / dx);
    }
  }
  if (slopes.length === 0) return [null, "no usable pair"];
  slopes.sort((a, b) => a - b);
  return [round9(slopes[Math.floor(slopes.length / 2)]), null];
}

function classify(d, coh) {
  if (coh >= 0.7 && d <= 1.5) return "sticky";
  if (d >= 2.6) return "non_sticky";
  return "mixed";
}

const clamp01 = (x) => Math.min(1, Math.max(0, x));

/** SPEC §5: the outcome, with the reason's expected prefix. */
function verifyOracle(rec, p) {
  const out = (accepted, d, b, prefix) => ({ accepted, escalated: prefix !== null, d, b, prefix });
  const structureOk =
    rec.schema === "fractal-lba-kakeya" &&
    [rec.pcs_id, rec.version, rec.shard_id, rec.merkle_root].every((s) => typeof s === "string" && s.length > 0) &&
    Number.isSafeInteger(rec.epoch) && rec.epoch >= 0 &&
    rec.pcs_id === pcsId(rec) &&
    rec.scales.length > 0;
  if (!structureOk) return out(false, null, null, "validation failed: ");
  const [d, why] = theilSen(rec);
  if (d === null) return out(false, null, null, "D_hat recomputation failed: ");
  if (Math.abs(rec.D_hat - d) > p.tol_d) return out(false, d, null, "D_hat mismatch");
  if (rec.coh_star < 0 || rec.coh_star > 1 + p.tol_coh) return out(false, d, null, "coh_star");
  if (rec.regime !== classify(rec.D_hat, rec.coh_star)) return out(true, d, null, "regime mismatch");
  const b = round9(clamp01(p.base + p.alpha * (1 - rec.r) + p.beta * Math.max(0, rec.D_hat - p.d0) + p.gamma * rec.coh_star));
  if (Math.abs(rec.budget - b) > p.budget_tol) return out(true, d, b, "budget mismatch");
  return out(true, d, b, null);
}

function checkVerify() {
  const doc = load("verify.json");
  for (const g of doc.testGroups) {
    const p = { ...DEFAULTS, ...g.params };
    for (const t of g.tests) {
      const where = `verify.json #${t.tcId} (${t.comment})`;
      const want = t.expected;
      const got = verifyOracle(t.record, p);
      let ok = check(where, "accepted", got.accepted, want.accepted);
      ok &&= check(where, "escalated", got.escalated, want.escalated);
      ok &&= check(where, "recomputed_D_hat", got.d, want.recomputed_D_hat ?? null);
      ok &&= check(where, "recomputed_budget", got.b, want.recomputed_budget ?? null);
      const reasonPrefix = want.reason === undefined ? null : want.reason.slice(0, (got.prefix ?? "").length);
      ok &&= check(where, "reason prefix", got.prefix, reasonPrefix);
      ok &&= check(where, "result", t.result, got.accepted && !got.escalated ? "valid" : "invalid");
      if (ok) passed++;
    }
  }
}

// ------------------------------------------------------------------ §7

const ringHash = (bytes) => sha256(bytes).readUInt32BE(0);

function buildRing(vnodes, shards) {
  const points = [];
  for (const s of shards) {
    for (let i = 0; i < vnodes * s.weight; i++) points.push([ringHash(Buffer.from(`${s.name}#${i}`, "utf8")), s.name]);
  }
  points.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const healthy = new Map(shards.map((s) => [s.name, s.healthy]));
  return { points, healthy };
}

function walk(ring, key, n) {
  const h = ringHash(Buffer.from(key, "utf8"));
  const pts = ring.points;
  let start = pts.findIndex((p) => p[0] >= h);
  if (start < 0) start = 0;
  const out = [];
  for (let k = 0; k < pts.length && out.length < n; k++) {
    const name = pts[(start + k) % pts.length][1];
    if (ring.healthy.get(name) && !out.includes(name)) out.push(name);
  }
  return out;
}

function checkRing() {
  const doc = load("ring.json");
  for (const g of doc.testGroups) {
    const ring = buildRing(g.vnodes, g.shards);
    for (const t of g.tests) {
      const where = `ring.json #${t.tcId} (${t.comment})`;
      const n = t.op === "pick" ? 1 : t.n;
      const got = walk(ring, t.key, n);
      let ok;
      if (got.length < n) {
        ok = check(where, "outcome", { error_kind: "ring", result: "invalid" }, { error_kind: t.error_kind, result: t.result });
      } else {
        ok = check(where, "expected", t.op === "pick" ? got[0] : got, t.expected);
        ok &&= check(where, "result", t.result, "valid");
      }
      if (ok) passed++;
    }
  }
}

// ------------------------------------------------------------------ rejects

// SPEC §1 types, judged on the text (JSON.parse loses integers beyond 2^53).
const REQUIRED = ["pcs_id", "schema", "version", "shard_id", "epoch", "merkle_root"];
const I64 = [-(2n ** 63n), 2n ** 63n - 1n];
const isInt = (lit, [lo, hi]) => /^-?\d+$/.test(lit) && BigInt(lit) >= lo && BigInt(lit) <= hi;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const isStr = (v) => typeof v === "string" && !LONE_SURROGATE.test(v);
const isNum = (v) => typeof v === "number";

/** The literal text of `"key": <number>` in `text`, or null. */
function numberLiteral(text, key) {
  const m = new RegExp(`"${key}"\\s*:\\s*(-?[0-9.eE+-]+)`).exec(text);
  return m ? m[1] : null;
}

/** Whether `field` (a path such as `epoch`, `scales[1]`, `N_j.2`, `ft.outbox_seq`)
 * is malformed in the record text: missing when required, given twice, of the
 * wrong type, out of range, or a string with a lone surrogate. */
function fieldMalformed(text, field) {
  let rec;
  try {
    rec = JSON.parse(text);
  } catch {
    return false;
  }
  const [top, rest] = field.split(/\.(.*)/s);
  const m = /^(\w+)\[(\d+)\]$/.exec(field);
  if (m) return !Number.isInteger(rec[m[1]][Number(m[2])]);
  if ((text.match(new RegExp(`"${top}"\\s*:`, "g")) ?? []).length > 1) return true;
  if (!(top in rec)) return REQUIRED.includes(top);
  const v = rec[top];
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
      return !Array.isArray(v) || !v.every(Number.isInteger);
    case "N_j":
      if (rest !== undefined) return !Number.isInteger(v[rest]);
      return v === null || typeof v !== "object" || Array.isArray(v) || !Object.values(v).every(Number.isInteger);
    case "v_star":
      return !Array.isArray(v) || !v.every(isNum);
    case "coh_star":
    case "D_hat":
    case "r":
    case "budget":
      return !isNum(v);
    case "ft": {
      if (v === null) return false;
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
function checkReject() {
  const doc = load("reject.json");
  for (const g of doc.testGroups) {
    const hmacKey = Buffer.from(g.hmac_key, "utf8");
    const pub = edPublic(g.ed25519_public);
    for (const t of g.tests) {
      const where = `reject.json #${t.tcId} (${t.comment})`;
      let ok = check(where, "result", t.result, "invalid");
      if (t.stage === "parse" && t.error_kind === "invalid_json") {
        let isObject = false;
        try {
          const v = JSON.parse(t.input);
          isObject = v !== null && typeof v === "object" && !Array.isArray(v);
        } catch {
          isObject = false;
        }
        ok &&= check(where, "input is not one JSON object", !isObject, true);
      } else if (t.stage === "parse") {
        ok &&= check(where, `field ${t.field} is malformed (SPEC §1)`, fieldMalformed(t.input, t.field), true);
      } else if (t.stage === "sign") {
        const rec = JSON.parse(t.input);
        let failed = false;
        try {
          canonical(rec);
        } catch {
          failed = true;
        }
        ok &&= check(where, "canonical payload refused", failed, true);
      } else if (t.stage === "verify_signature") {
        const rec = JSON.parse(t.input);
        let verdict = "signature_missing";
        if (typeof rec.sig === "string" && rec.sig !== "") {
          const digest = sha256(Buffer.from(canonical(rec), "utf8"));
          const raw = strictB64(rec.sig);
          const hmacOk = raw !== null && raw.length === 32 && raw.equals(createHmac("sha256", hmacKey).update(digest).digest());
          const edOk = raw !== null && raw.length === 64 && edVerify(null, digest, pub, raw);
          verdict = hmacOk || edOk ? "valid" : "signature_invalid";
        }
        ok &&= check(where, "signature verdict", verdict, t.error_kind);
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
        ok = check(where, "stage", t.stage, "parse|validate|sign|verify_signature|key");
      }
      if (ok) passed++;
    }
  }
}

for (const step of [checkCanonical, checkVerify, checkRing, checkReject]) {
  try {
    step();
  } catch (err) {
    failures.push(`${step.name}: ${err.stack}`);
  }
}
for (const f of failures) console.error(`FAIL ${f}`);
console.log(`oracle: ${passed} passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
