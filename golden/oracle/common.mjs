import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const dir = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), "..");
export const failures = [];
/** Cases that passed (an object, so that every module can count). */
export const tally = { passed: 0 };

export function check(where, what, got, want) {
  const a = JSON.stringify(got);
  const b = JSON.stringify(want);
  if (a === b) return true;
  failures.push(`${where}: ${what}\n    oracle: ${a}\n    golden: ${b}`);
  return false;
}

export function load(name) {
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
