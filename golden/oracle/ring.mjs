// SPEC §7: the ring.

import { check, load, tally } from "./common.mjs";
import { sha256 } from "./payloads.mjs";

export const ringHash = (bytes) => sha256(bytes).readUInt32BE(0);

export function buildRing(vnodes, shards) {
  const points = [];
  for (const s of shards) {
    for (let i = 0; i < vnodes * s.weight; i++) points.push([ringHash(Buffer.from(`${s.name}#${i}`, "utf8")), s.name]);
  }
  points.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const healthy = new Map(shards.map((s) => [s.name, s.healthy]));
  return { points, healthy };
}

export function walk(ring, key, n) {
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

export function checkRing() {
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
      if (ok) tally.passed++;
    }
  }
}
