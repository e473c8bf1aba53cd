// SPEC §2–§4: pcs_id, the v1 and v2 payloads, the seed encodings, signatures and verdicts.

import { createHash, createHmac, createPrivateKey, createPublicKey, sign, verify as edVerify } from "node:crypto";
import { check, load, tally } from "./common.mjs";
import { LONE_SURROGATE, at } from "./reject.mjs";

export const sha256 = (bytes) => createHash("sha256").update(bytes).digest();

/** roundHalfAwayFromZero(x × 1e9) / 1e9 in binary64; −0 → 0. Math.round would
 * round −2.5 to −2 (half up), so the tie is decided on the magnitude. */
export function round9(x) {
  const y = x * 1e9;
  const a = Math.abs(y);
  let r = Math.floor(a);
  if (a - r >= 0.5) r += 1; // a − floor(a) is exact in binary64
  const out = (y < 0 ? -r : r) / 1e9;
  return out === 0 ? 0 : out;
}

export function signedNumber(x) {
  if (typeof x !== "number" || !Number.isFinite(x)) throw new Error("not a finite number");
  const r = round9(x);
  if (!Number.isFinite(r)) throw new Error("round9 is not finite");
  return r;
}

export function canonical(rec) {
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
export function jcs(v) {
  if (v === null || typeof v === "boolean" || typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error("NaN or Infinity cannot be signed");
    return JSON.stringify(v); // −0 → "0", shortest round-trip digits, 1e-7, 1e+21
  }
  if (Array.isArray(v)) return `[${v.map(jcs).join(",")}]`;
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${jcs(v[k])}`).join(",")}}`;
}

export const DELIVERY = ["sig", "attempt", "sent_at", "ft"];
export const V2_DOMAIN = Buffer.from("fractal-lba/pcs/v2\n", "utf8");
export const NUMBER_FIELDS = new Set(["coh_star", "D_hat", "r", "budget"]);

export function canonicalV2(rec) {
  const o = { ...rec };
  for (const k of DELIVERY) delete o[k];
  return jcs(o);
}

export const digestV2 = (payload) => sha256(Buffer.concat([V2_DOMAIN, Buffer.from(payload, "utf8")]));

/** Scans JSON text (already known to parse) for what JSON.parse hides: the
 * literal text and path of every number, keys given twice (with the path of
 * their object), and keys holding a lone surrogate. Paths are written as the
 * core names fields: `epoch`, `N_j.4`, `scales[2]`, `zz_unknown.a[1].b`. */
export function scan(text) {
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

export const MAX_SAFE = 2n ** 53n - 1n;

/** Paths of numbers v2 cannot sign (SPEC §3.2 step 2): integer literals outside
 * ±(2^53−1), and floats whose RFC 8785 text is such an integer. The four number fields and v_star take any number: there a long
 * integer literal is just another way to write a binary64 value. */
export function unsafeIntegers(text) {
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
export function shortestDigits(x) {
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(Math.abs(x).toExponential());
  const digits = (m[2] + (m[3] ?? "")).replace(/0+$/, "") || "0";
  return { negative: Object.is(x, -0) || x < 0, digits, point: Number(m[4]) + 1 };
}

/** float(Decimal(repr(x)).quantize(Decimal("1e-9"), ROUND_HALF_UP)), or null
 * where Python's default context (28 digits) raises InvalidOperation. */
export function pythonQuantize9(x) {
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
export function pythonRepr(x) {
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
export function pythonString(s) {
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

export function seedPython(rec) {
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
export function seedGo(rec) {
  const esc = { "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029" };
  return canonical(rec).replace(/[<>&\u2028\u2029]/g, (c) => esc[c]);
}

export const LEGACY = { "seed-python": seedPython, "seed-go": seedGo };

// ---- Signatures under a policy (SPEC §4, §4.1).

/** The verdict of a verifier holding `hmacKey` and `pub` under `policy` on the
 * record's `sig` (the record as JSON.parse gives it, so −0 stays −0): "valid"
 * or the error kind. */
export function verdict(rec, policy, hmacKey, pub) {
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

export const pcsId = (rec) => sha256(Buffer.from(`${rec.merkle_root}|${rec.epoch}|${rec.shard_id}`, "utf8")).toString("hex");

export const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
export const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function strictB64(s) {
  if (typeof s !== "string" || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  const buf = Buffer.from(s, "base64");
  return buf.toString("base64") === s ? buf : null; // rejects non-zero trailing bits
}

export function edPrivate(seedB64) {
  const seed = strictB64(seedB64);
  if (!seed || seed.length !== 32) throw new Error("seed is not base64 of 32 bytes");
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
}

export function edPublic(publicB64) {
  const raw = strictB64(publicB64);
  if (!raw || raw.length !== 32) throw new Error("public key is not base64 of 32 bytes");
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: "der", type: "spki" });
}

// RFC 8032 §5.1.3 point decoding, enough to tell whether 32 bytes are a point.
export const P = 2n ** 255n - 19n;
export const modp = (x) => ((x % P) + P) % P;
export function powmod(b, e) {
  let r = 1n;
  b = modp(b);
  for (; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
  return r;
}
export const D = modp(-121665n * powmod(121666n, P - 2n));
export function isEdwardsPoint(bytes) {
  const le = Buffer.from(bytes).reverse();
  const signBit = (le[0] & 0x80) !== 0;
  le[0] &= 0x7f;
  const y = BigInt("0x" + le.toString("hex"));
  if (y >= P) return false;
  const x2 = modp((y * y - 1n) * powmod(D * y * y + 1n, P - 2n));
  if (x2 === 0n) return !signBit;
  return powmod(x2, (P - 1n) / 2n) === 1n;
}

export function checkCanonical() {
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
      if (ok) tally.passed++;
    }
  }
}

/** Structural equality with Object.is on numbers (−0 ≠ 0), keys in any order. */
export function sameJson(a, b) {
  if (typeof a === "number" || typeof b === "number") return Object.is(a, b);
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
}

export function groupKeys(file, g) {
  const priv = edPrivate(g.ed25519_seed);
  const pub = createPublicKey(priv).export({ format: "der", type: "spki" }).subarray(-32).toString("base64");
  check(`${file} group`, "ed25519_public of the seed", pub, g.ed25519_public);
  return { priv, pub: edPublic(g.ed25519_public), hmacKey: Buffer.from(g.hmac_key, "utf8") };
}

export const hmacB64 = (key, digest) => createHmac("sha256", key).update(digest).digest("base64");
export const edB64 = (priv, digest) => sign(null, digest, priv).toString("base64");

export function checkCanonicalV2() {
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
      if (ok) tally.passed++;
    }
  }
}

export function checkLegacy() {
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
      if (ok) tally.passed++;
    }
  }
}
