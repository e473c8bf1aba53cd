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

import { failures, tally } from "./common.mjs";
import { checkCanonical, checkCanonicalV2, checkLegacy } from "./payloads.mjs";
import { checkRead } from "./read.mjs";
import { checkVerify } from "./verify.mjs";
import { checkRing } from "./ring.mjs";
import { checkAudit } from "./audit.mjs";
import { checkReject } from "./reject.mjs";
import { checkProtocol } from "./protocol.mjs";

for (const step of [checkCanonical, checkCanonicalV2, checkLegacy, checkRead, checkVerify, checkRing, checkReject, checkAudit, checkProtocol]) {
  try {
    step();
  } catch (err) {
    failures.push(`${step.name}: ${err.stack}`);
  }
}
for (const f of failures) console.error(`FAIL ${f}`);
console.log(`oracle: ${tally.passed} passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
