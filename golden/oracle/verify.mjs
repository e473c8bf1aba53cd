// SPEC §5: the verification engine.

import { check, load, tally } from "./common.mjs";
import { pcsId, round9 } from "./payloads.mjs";

export const DEFAULTS = { tol_d: 0.15, tol_coh: 0.05, alpha: 0.3, beta: 0.5, gamma: 0.2, base: 0.1, d0: 2.2, budget_tol: 0.01 };

/** Returns [recomputed D_hat, null] or [null, why]. */
export function theilSen(rec) {
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

export function classify(d, coh) {
  if (coh >= 0.7 && d <= 1.5) return "sticky";
  if (d >= 2.6) return "non_sticky";
  return "mixed";
}

export const clamp01 = (x) => Math.min(1, Math.max(0, x));

/** SPEC §5: the outcome, with the reason's expected prefix. */
export function verifyOracle(rec, p) {
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

export function checkVerify() {
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
      if (ok) tally.passed++;
    }
  }
}
