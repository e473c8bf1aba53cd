// The golden-vector oracle: recomputes every expected value in golden/*.json
// with an implementation independent of the Rust core — ECMAScript's own
// JSON.parse, JSON.stringify, Number#toString and UTF-16 string order for the
// v1 and v2 payloads (SPEC §3.1, §3.2, RFC 8785), the seed's two encodings
// written from the SPEC §4.1 text (seed-python: Decimal half-up on the shortest
// digits, Python repr, ensure_ascii; seed-go: HTML-safe escapes), node:crypto
// for SHA-256, HMAC and Ed25519 (SPEC §2, §4, §6.1, §11), and plain JavaScript for
// the verification engine (SPEC §5), the ring (SPEC §7), the audit chain (SPEC §11)
// and the client protocol (SPEC §6: splitmix64 backoff, Retry-After, answers).
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

// ---- v2 (SPEC §3.2): RFC 8785 of the record minus the delivery fields.

/** RFC 8785: object keys sorted by UTF-16 code units (what Array#sort does with
 * no comparator: it compares the strings' code units), strings and numbers as
 * JSON.stringify writes them, no whitespace, at every level. */
function jcs(v) {
  if (v === null || typeof v === "boolean" || typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error("NaN or Infinity cannot be signed");
    return JSON.stringify(v); // −0 → "0", shortest round-trip digits, 1e-7, 1e+21
  }
  if (Array.isArray(v)) return `[${v.map(jcs).join(",")}]`;
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${jcs(v[k])}`).join(",")}}`;
}

const DELIVERY = ["sig", "attempt", "sent_at", "ft"];
const V2_DOMAIN = Buffer.from("fractal-lba/pcs/v2\n", "utf8");
const NUMBER_FIELDS = new Set(["coh_star", "D_hat", "r", "budget"]);

function canonicalV2(rec) {
  const o = { ...rec };
  for (const k of DELIVERY) delete o[k];
  return jcs(o);
}

const digestV2 = (payload) => sha256(Buffer.concat([V2_DOMAIN, Buffer.from(payload, "utf8")]));

/** Scans JSON text (already known to parse) for what JSON.parse hides: the
 * literal text and path of every number, keys given twice (with the path of
 * their object), and keys holding a lone surrogate. Paths are written as the
 * core names fields: `epoch`, `N_j.4`, `scales[2]`, `zz_unknown.a[1].b`. */
function scan(text) {
  const out = { numbers: [], duplicates: [], loneSurrogateKey: false };
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const string = () => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const child = (path, k) => (path === "" ? k : `${path}.${k}`);
  const value = (path) => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const seen = new Set();
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        const k = string();
        if (LONE_SURROGATE.test(k)) out.loneSurrogateKey = true;
        if (seen.has(k)) out.duplicates.push({ path, key: k });
        seen.add(k);
        ws();
        i++; // ':'
        value(child(path, k));
        ws();
        if (text[i++] === ",") continue;
        return;
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (let n = 0; ; n++) {
        value(`${path}[${n}]`);
        ws();
        if (text[i++] === ",") continue;
        return;
      }
    }
    if (c === '"') return void string();
    for (const lit of ["true", "false", "null"]) if (text.startsWith(lit, i)) return void (i += lit.length);
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    out.numbers.push({ path, literal: m[0] });
    i += m[0].length;
  };
  value("");
  return out;
}

const MAX_SAFE = 2n ** 53n - 1n;

/** Paths of numbers v2 cannot sign (SPEC §3.2 step 2): integer literals outside
 * ±(2^53−1), and floats whose RFC 8785 text is such an integer. The four number fields and v_star take any number: there a long
 * integer literal is just another way to write a binary64 value. */
function unsafeIntegers(text) {
  return scan(text)
    .numbers.filter(({ path, literal }) => {
      const top = path.split(/[.[]/)[0];
      if (NUMBER_FIELDS.has(path) || top === "v_star") return false;
      if (/^-?\d+$/.test(literal)) return BigInt(literal) > MAX_SAFE || BigInt(literal) < -MAX_SAFE;
      // A float that RFC 8785 writes as an integer (integral, below 1e21) beyond
      // 2^53−1: 1e19 is written 10000000000000000000, which v2 refuses.
      const x = Math.abs(Number(literal));
      return Number.isInteger(x) && x > Number.MAX_SAFE_INTEGER && x < 1e21;
    })
    .map((n) => n.path);
}

// ---- The seed's encodings of v1 (SPEC §4.1), from the SPEC text.

/** The shortest round-trip digits of a finite binary64 and its decimal
 * exponent: x = 0.d1d2…dn × 10^point. Number#toExponential() without an
 * argument gives exactly those digits (as Python's repr does). */
function shortestDigits(x) {
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(Math.abs(x).toExponential());
  const digits = (m[2] + (m[3] ?? "")).replace(/0+$/, "") || "0";
  return { negative: Object.is(x, -0) || x < 0, digits, point: Number(m[4]) + 1 };
}

/** float(Decimal(repr(x)).quantize(Decimal("1e-9"), ROUND_HALF_UP)), or null
 * where Python's default context (28 digits) raises InvalidOperation. */
function pythonQuantize9(x) {
  if (!Number.isFinite(x)) return null;
  const { negative, digits, point } = shortestDigits(x);
  // x = digits × 10^(point − len); in units of 1e-9: digits × 10^(point − len + 9).
  const shift = point - digits.length + 9;
  let units;
  if (shift >= 0) {
    units = BigInt(digits) * 10n ** BigInt(shift);
  } else {
    const div = 10n ** BigInt(-shift);
    const d = BigInt(digits);
    units = d / div;
    if ((d % div) * 2n >= div) units += 1n; // ROUND_HALF_UP: ties away from zero
  }
  if (units.toString().length > 28) return null;
  const v = Number(`${units}e-9`); // a correctly rounded decimal → binary64 conversion
  return negative ? -v : v;
}

/** Python's repr of a float: shortest digits; fixed notation for decimal
 * exponents −4 … 15 with ".0" on integral values, else d.ddde±XX. */
function pythonRepr(x) {
  const { negative, digits, point } = shortestDigits(x);
  const sign = negative ? "-" : "";
  if (digits === "0") return `${sign}0.0`;
  const e = point - 1;
  if (e < -4 || e >= 16) {
    const mant = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
    const exp = Math.abs(e).toString().padStart(2, "0");
    return `${sign}${mant}e${e < 0 ? "-" : "+"}${exp}`;
  }
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** json.dumps(s) with ensure_ascii: short escapes for " \ \n \r \t \b \f,
 * every other code unit outside U+0020…U+007E as \uXXXX in lowercase hex
 * (a JS string is UTF-16, so code points above U+FFFF come out as pairs). */
function pythonString(s) {
  const short = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };
  let out = '"';
  for (let k = 0; k < s.length; k++) {
    const c = s[k];
    const u = s.charCodeAt(k);
    if (c in short) out += short[c];
    else if (u < 0x20 || u > 0x7e) out += `\\u${u.toString(16).padStart(4, "0")}`;
    else out += c;
  }
  return `${out}"`;
}

function seedPython(rec) {
  const nums = {};
  for (const k of ["D_hat", "budget", "coh_star", "r"]) {
    const q = pythonQuantize9(rec[k]);
    if (q === null) return null;
    nums[k] = pythonRepr(q);
  }
  // sort_keys=True sorts by code point; these eight keys are ASCII.
  return (
    `{"D_hat":${nums.D_hat},"budget":${nums.budget},"coh_star":${nums.coh_star},"epoch":${rec.epoch},` +
    `"merkle_root":${pythonString(rec.merkle_root)},"pcs_id":${pythonString(rec.pcs_id)},"r":${nums.r},` +
    `"shard_id":${pythonString(rec.shard_id)}}`
  );
}

/** §3.1 bytes with Go's HTML-safe escapes. These characters can only occur
 * inside strings of the payload (keys are fixed ASCII, numbers are digits). */
function seedGo(rec) {
  const esc = { "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029" };
  return canonical(rec).replace(/[<>&\u2028\u2029]/g, (c) => esc[c]);
}

const LEGACY = { "seed-python": seedPython, "seed-go": seedGo };

// ---- Signatures under a policy (SPEC §4, §4.1).

/** The verdict of a verifier holding `hmacKey` and `pub` under `policy` on the
 * record's `sig` (the record as JSON.parse gives it, so −0 stays −0): "valid"
 * or the error kind. */
function verdict(rec, policy, hmacKey, pub) {
  if (typeof rec.sig !== "string" || rec.sig === "") return "signature_missing";
  let version = "v1";
  let mac = rec.sig;
  const prefix = /^(v\d+):/.exec(rec.sig);
  if (prefix) {
    version = prefix[1];
    mac = rec.sig.slice(prefix[0].length);
  }
  if (version !== "v1" && version !== "v2") return "unsupported_signature_version";
  if (!policy.versions.includes(version)) return "unsupported_signature_version";
  const raw = strictB64(mac);
  const macOk = (digest) =>
    raw !== null &&
    ((raw.length === 32 && raw.equals(createHmac("sha256", hmacKey).update(digest).digest())) ||
      (raw.length === 64 && edVerify(null, digest, pub, raw)));
  if (version === "v2") return macOk(digestV2(canonicalV2(rec))) ? "valid" : "signature_invalid";
  if (macOk(sha256(Buffer.from(canonical(rec), "utf8")))) return "valid";
  for (const enc of policy.encodings) {
    const payload = LEGACY[enc](rec);
    if (payload !== null && macOk(sha256(Buffer.from(payload, "utf8")))) return "valid";
  }
  return "signature_invalid";
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

/** Structural equality with Object.is on numbers (−0 ≠ 0), keys in any order. */
function sameJson(a, b) {
  if (typeof a === "number" || typeof b === "number") return Object.is(a, b);
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
}

function groupKeys(file, g) {
  const priv = edPrivate(g.ed25519_seed);
  const pub = createPublicKey(priv).export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
  check(`${file} group`, "ed25519_public of the seed", pub, g.ed25519_public);
  return { priv, pub: edPublic(g.ed25519_public), hmacKey: Buffer.from(g.hmac_key, "utf8") };
}

const hmacB64 = (key, digest) => createHmac("sha256", key).update(digest).digest("base64");
const edB64 = (priv, digest) => sign(null, digest, priv).toString("base64");

function checkCanonicalV2() {
  const doc = load("canonical_v2.json");
  for (const g of doc.testGroups) {
    const { priv, pub, hmacKey } = groupKeys("canonical_v2.json", g);
    for (const t of g.tests) {
      const where = `canonical_v2.json #${t.tcId} (${t.comment})`;
      const e = t.expected;
      const rec = JSON.parse(t.record_text);
      let ok = check(where, "record is JSON.parse(record_text)", sameJson(rec, t.record), true);
      ok &&= check(where, "integer literals v2 cannot sign", unsafeIntegers(t.record_text), []);
      ok &&= check(where, "keys given twice", scan(t.record_text).duplicates, []);
      ok &&= check(where, "pcs_id", pcsId(rec), e.pcs_id);
      let payload;
      try {
        payload = canonicalV2(rec);
      } catch (err) {
        ok = check(where, "v2 payload", `error: ${err.message}`, e.canonical);
      }
      if (payload !== undefined) {
        ok &&= check(where, "v2 payload", payload, e.canonical);
        ok &&= check(where, "v2 payload from record", canonicalV2(t.record), e.canonical);
        const digest = digestV2(payload);
        ok &&= check(where, "digest_hex", digest.toString("hex"), e.digest_hex);
        ok &&= check(where, "sig_hmac", `v2:${hmacB64(hmacKey, digest)}`, e.sig_hmac);
        ok &&= check(where, "sig_ed25519", `v2:${edB64(priv, digest)}`, e.sig_ed25519);
        // The signatures verify under the default policy, and a change of a
        // field only v2 signs breaks them.
        const v2only = { versions: ["v2"], encodings: [] };
        for (const sig of [e.sig_hmac, e.sig_ed25519]) {
          ok &&= check(where, `${sig.slice(0, 12)}… verifies (v2 only)`, verdict({ ...rec, sig }, v2only, hmacKey, pub), "valid");
          const changed = { ...rec, sig, zz_oracle_added: 1 };
          ok &&= check(where, "an added unknown field breaks it", verdict(changed, v2only, hmacKey, pub), "signature_invalid");
          const delivery = { ...rec, sig, attempt: 99, sent_at: "2000-01-01T00:00:00Z", ft: { degraded: true } };
          ok &&= check(where, "delivery fields do not", verdict(delivery, v2only, hmacKey, pub), "valid");
        }
        // Omitted optional fields are absent from the payload.
        const signedKeys = Object.keys(JSON.parse(payload));
        for (const k of ["seed", "scales", "N_j", "v_star", "regime"]) {
          ok &&= check(where, `${k} in the payload exactly when in the record`, signedKeys.includes(k), Object.hasOwn(rec, k));
        }
      }
      ok &&= check(where, "result", t.result, "valid");
      if (ok) passed++;
    }
  }
}

function checkLegacy() {
  const doc = load("legacy.json");
  for (const g of doc.testGroups) {
    const { priv, pub, hmacKey } = groupKeys("legacy.json", g);
    for (const t of g.tests) {
      const where = `legacy.json #${t.tcId} (${t.comment})`;
      const e = t.expected;
      const encode = LEGACY[t.encoding];
      let ok = check(where, "encoding", typeof encode, "function");
      if (ok) {
        const payload = encode(t.record);
        ok &&= check(where, `${t.encoding} payload`, payload, e.payload);
        ok &&= check(where, "canonical_v1", canonical(t.record), e.canonical_v1);
        ok &&= check(where, "differs from the v1 payload", e.payload !== e.canonical_v1, true);
        const digest = sha256(Buffer.from(e.payload, "utf8"));
        ok &&= check(where, "digest_hex", digest.toString("hex"), e.digest_hex);
        ok &&= check(where, "sig_hmac", hmacB64(hmacKey, digest), e.sig_hmac);
        ok &&= check(where, "sig_ed25519", edB64(priv, digest), e.sig_ed25519);
        for (const sig of [e.sig_hmac, e.sig_ed25519]) {
          const signed = { ...t.record, sig };
          ok &&= check(where, "accepted with the encoding listed", verdict(signed, { versions: ["v1"], encodings: [t.encoding] }, hmacKey, pub), "valid");
          ok &&= check(where, "refused without it", verdict(signed, { versions: ["v1"], encodings: [] }, hmacKey, pub), "signature_invalid");
          ok &&= check(where, "refused by the default policy", verdict(signed, { versions: ["v2"], encodings: [] }, hmacKey, pub), "unsupported_signature_version");
        }
      }
      ok &&= check(where, "result", t.result, "valid");
      if (ok) passed++;
    }
  }
}

// ------------------------------------------------------------------ §6.1

const readDigest = (tenant, id, t) => sha256(Buffer.from(`fractal-lba/read/v1\n${tenant}\n${id}\n${t}`, "utf8"));

/** The verdict on an Authorization header per SPEC §6.1's grammar, read strictly. */
function readVerdict(header, tenant, id, now, skew, hmacKey, pub) {
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

function checkRead() {
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

// ------------------------------------------------------------------ §11

const AUDIT_GENESIS = "0".repeat(64);
const sealMessage = (s) => Buffer.from(`fractal-lba/audit-seal/v1\n${s.segment}\n${s.first_seq}\n${s.last_seq}\n${s.last_hash}`, "utf8");
const ENTRY_KEYS = ["at", "pcs_id", "prev", "record_sha256", "region", "result", "seq", "status", "tenant"];
const SEAL_KEYS = ["first_seq", "last_hash", "last_seq", "public_key", "segment", "sig"];
const hasKeys = (o, keys) => o !== null && typeof o === "object" && JSON.stringify(Object.keys(o).sort()) === JSON.stringify(keys);

function parseJson(text) {
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
function auditVerify(segments, pubB64, anchorText) {
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

function checkAudit() {
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
      if (ok) passed++;
    }
  }
}

// ------------------------------------------------------------------ rejects

// SPEC §1 types, judged on the text (JSON.parse loses integers beyond 2^53).
const REQUIRED = ["pcs_id", "schema", "version", "shard_id", "epoch", "merkle_root", "coh_star", "D_hat", "r", "budget"];
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

const KNOWN = new Set(["pcs_id", "schema", "version", "shard_id", "epoch", "attempt", "sent_at", "seed", "scales", "N_j", "coh_star", "v_star", "D_hat", "r", "regime", "budget", "merkle_root", "sig", "ft"]);
const MAX_ENTRIES = 64;
const utf8Len = (s) => Buffer.byteLength(s, "utf8");

/** The value at a path such as `zz_unknown.a[0]` (undefined when absent). */
function at(rec, path) {
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
function fieldMalformed(text, field) {
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
function checkReject() {
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
      if (ok) passed++;
    }
  }
}

// ------------------------------------------------------------------ §6 client protocol

const M64 = (1n << 64n) - 1n;
/** A u64 as the file writes it: a number below 2^53, else a decimal string. */
const u64Out = (n) => (n === null ? null : n < 1n << 53n ? Number(n) : n.toString());
const u64In = (v) => (v === null ? null : BigInt(v));

/** Backoff (SPEC §6): full jitter from splitmix64; attempt k's ceiling is
 * min(cap, base·2^min(k,32)), saturating; the generator only moves when the
 * ceiling is not 0, and a Retry-After replaces the delay (beyond the cap: none). */
function backoff(policy, seed) {
  let state = seed;
  let retries = 0;
  const next = () => {
    state = (state + 0x9e3779b97f4a7c15n) & M64;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    return z ^ (z >> 31n);
  };
  return (afterMs) => {
    if (retries >= policy.max_retries) return null;
    let exp = BigInt(policy.base_delay_ms) << BigInt(Math.min(retries, 32));
    if (exp > M64) exp = M64;
    const cap = BigInt(policy.max_delay_ms);
    const ceiling = exp < cap ? exp : cap;
    const jitter = ceiling === 0n ? 0n : next() % ceiling;
    retries++;
    if (afterMs === null) return jitter;
    return afterMs > BigInt(policy.max_retry_after_ms) ? null : afterMs;
  };
}

function headerValue(headers, name) {
  const h = headers.find(([k]) => k.toLowerCase() === name);
  return h === undefined ? undefined : h[1].trim();
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** RFC 9110 §5.6.7 HTTP-date, all three forms, to ms since the epoch; null when
 * unreadable, not a real day, or the weekday disagrees with the date. */
function httpDate(text) {
  const mon = `(${MONTHS.join("|")})`;
  const hms = "(\\d{2}):(\\d{2}):(\\d{2})";
  let m;
  let wd, day, month, year, hh, mm, ss;
  if ((m = new RegExp(`^(${DAYS.join("|")}), (\\d{2}) ${mon} (\\d{4}) ${hms} GMT$`).exec(text))) {
    [, wd, day, month, year, hh, mm, ss] = m;
    wd = DAYS.indexOf(wd);
  } else if ((m = new RegExp(`^(${LONG_DAYS.join("|")}), (\\d{2})-${mon}-(\\d{2}) ${hms} GMT$`).exec(text))) {
    [, wd, day, month, year, hh, mm, ss] = m;
    wd = LONG_DAYS.indexOf(wd);
    year = Number(year) < 70 ? 2000 + Number(year) : 1900 + Number(year);
  } else if ((m = new RegExp(`^(${DAYS.join("|")}) ${mon} ( \\d|\\d{2}) ${hms} (\\d{4})$`).exec(text))) {
    [, wd, month, day, hh, mm, ss, year] = m;
    wd = DAYS.indexOf(wd);
  } else {
    return null;
  }
  [day, year, hh, mm, ss] = [day, year, hh, mm, ss].map(Number);
  const mi = MONTHS.indexOf(month);
  if (year < 1970 || year > 9999 || hh > 23 || mm > 59 || ss > 59) return null;
  const t = Date.UTC(year, mi, day, hh, mm, ss);
  const d = new Date(t);
  if (d.getUTCDate() !== day || d.getUTCMonth() !== mi || d.getUTCDay() !== wd) return null;
  return t;
}

/** Retry-After in ms (BigInt, saturating at 2^64 − 1) or null. */
function retryAfterMs(headers) {
  const v = headerValue(headers, "retry-after");
  if (v === undefined) return null;
  if (/^[0-9]+$/.test(v)) {
    const secs = BigInt(v);
    if (secs > M64) return null;
    const ms = secs * 1000n;
    return ms > M64 ? M64 : ms;
  }
  const date = headerValue(headers, "date");
  if (/[^\x00-\x7f]/.test(v) || date === undefined) return null;
  const until = httpDate(v);
  const sent = httpDate(date);
  if (until === null || sent === null) return null;
  return until > sent ? BigInt(until - sent) : 0n;
}

/** One answer to a submit or lookup (SPEC §6 status table). */
function classifyAnswer(status, headers, body) {
  if (status === 200 || status === 202) {
    let r;
    try {
      r = JSON.parse(body);
    } catch {
      r = null;
    }
    if (r !== null && typeof r === "object" && typeof r.accepted === "boolean" && typeof r.escalated === "boolean") {
      const dedup = (headerValue(headers, "x-dedup") ?? "").toLowerCase() === "hit";
      return { ok: { accepted: r.accepted, dedup_hit: dedup, status } };
    }
    return { error: { code: "invalid_response", kind: "api", not_found: false, status, retryable: false, retry_after_ms: null } };
  }
  let code, message;
  try {
    const e = JSON.parse(body).error;
    if (typeof e.code !== "string" || typeof e.message !== "string") throw new Error("shape");
    [code, message] = [e.code, e.message];
  } catch {
    [code, message] = [`http_${status}`, [...body].slice(0, 200).join("")];
  }
  const kind = [400, 413, 415].includes(status) ? "invalid" : status === 401 ? "signature" : status === 429 ? "rate_limited" : "api";
  return {
    error: {
      code: kind === "rate_limited" ? null : code,
      kind,
      message,
      not_found: kind === "api" && status === 404,
      retry_after_ms: kind === "rate_limited" ? u64Out(retryAfterMs(headers)) : null,
      retryable: kind === "rate_limited" || (kind === "api" && status >= 500),
      status,
    },
  };
}

/** Compares an oracle outcome with the file's, ignoring the message of an
 * invalid_response (the core quotes its JSON parser there). */
function sameOutcome(got, want) {
  if (got.error?.code === "invalid_response" && want.error) {
    const { message, ...rest } = want.error;
    return sameJson(got, { error: rest });
  }
  return sameJson(got, want);
}

function checkProtocol() {
  const file = load("client/protocol.json");
  const types = file.testGroups.map((g) => g.type);
  check("client/protocol.json", "group types", types, ["backoff", "retry_after", "classify", "call"]);
  for (const g of file.testGroups) {
    for (const t of g.tests) {
      const where = `client/protocol.json #${t.tcId} (${t.comment})`;
      let ok = true;
      if (g.type === "backoff") {
        const next = backoff(t.policy, BigInt(t.seed));
        const got = t.calls.map((c) => ({ delay_ms: u64Out(next(u64In(c.retry_after_ms))), retry_after_ms: c.retry_after_ms }));
        ok = check(where, "delays", got, t.calls);
      } else if (g.type === "retry_after") {
        ok = check(where, "delay_ms", u64Out(retryAfterMs(t.headers)), t.delay_ms);
      } else if (g.type === "classify") {
        const got = classifyAnswer(t.status, t.headers, t.body);
        ok = sameOutcome(got, t.expected) || check(where, "classification", got, t.expected);
      } else if (g.type === "call") {
        const next = backoff(t.policy, BigInt(t.seed));
        const steps = [];
        for (const ev of t.events) {
          let outcome;
          let after = null;
          if (ev.transport !== undefined) {
            outcome = { error: { code: null, kind: ev.timeout ? "timeout" : "transport", message: ev.transport, not_found: false, retry_after_ms: null, retryable: true, status: null } };
          } else {
            outcome = classifyAnswer(ev.status, ev.headers, ev.body);
            if (ev.status === 429 || ev.status === 503) after = retryAfterMs(ev.headers);
          }
          const delay = outcome.error?.retryable ? next(after) : null;
          steps.push(delay === null ? { done: outcome } : { retry_ms: u64Out(delay) });
          if (delay === null) break;
        }
        ok = steps.length === t.steps.length && steps.every((s, i) => (s.done ? sameOutcome(s.done, t.steps[i].done ?? {}) : sameJson(s, t.steps[i])));
        if (!ok) check(where, "steps", steps, t.steps);
      } else {
        ok = check(where, "group type", g.type, "backoff|retry_after|classify|call");
      }
      if (ok) passed++;
    }
  }
}

for (const step of [checkCanonical, checkCanonicalV2, checkLegacy, checkRead, checkVerify, checkRing, checkReject, checkAudit, checkProtocol]) {
  try {
    step();
  } catch (err) {
    failures.push(`${step.name}: ${err.stack}`);
  }
}
for (const f of failures) console.error(`FAIL ${f}`);
console.log(`oracle: ${passed} passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
