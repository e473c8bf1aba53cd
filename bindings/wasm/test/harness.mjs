// A tiny test harness for the browser: `test(name, fn)` registers, `run()`
// runs them all and reports; `assert` has the strict node:assert methods the
// suites use. run.mjs (Node) reads the report through the DevTools protocol.

const tests = []

export function test(name, fn) {
  tests.push({ name, fn })
}

class AssertionError extends Error {
  name = 'AssertionError'
}

const show = (v) => {
  try {
    return typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `Uint8Array[${v}]` : JSON.stringify(v)
  } catch {
    return String(v)
  }
}

function fail(message, actual, expected) {
  const detail = arguments.length > 1 ? ` (actual ${show(actual)}, expected ${show(expected)})` : ''
  throw new AssertionError(`${message ?? 'assertion failed'}${detail}`)
}

function same(a, b) {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false
  if (ArrayBuffer.isView(a)) return a.length === b.length && a.every((x, i) => x === b[i])
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]))
}

export const assert = {
  ok(v, message) {
    if (!v) fail(message ?? 'expected a truthy value', v, true)
  },
  equal(actual, expected, message) {
    if (!Object.is(actual, expected)) fail(message, actual, expected)
  },
  notEqual(actual, expected, message) {
    if (Object.is(actual, expected)) fail(message ?? 'expected different values', actual, expected)
  },
  deepEqual(actual, expected, message) {
    if (!same(actual, expected)) fail(message, actual, expected)
  },
  match(actual, re, message) {
    if (typeof actual !== 'string' || !re.test(actual)) fail(message ?? `expected a match of ${re}`, actual, String(re))
  },
  fail(message) {
    fail(message)
  },
}

/** Runs every registered test; `{ passed, failed: [{ name, message }] }`. */
export async function run() {
  const failed = []
  let passed = 0
  for (const t of tests.splice(0)) {
    try {
      await t.fn()
      passed++
    } catch (e) {
      failed.push({ name: t.name, message: String(e?.stack ?? e) })
    }
  }
  return { passed, failed }
}
