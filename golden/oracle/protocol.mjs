// SPEC §6: the client protocol (backoff, Retry-After, answers).

import { check, load, tally } from "./common.mjs";
import { sameJson } from "./payloads.mjs";
import { classify } from "./verify.mjs";
import { at } from "./reject.mjs";

export const M64 = (1n << 64n) - 1n;
/** A u64 as the file writes it: a number below 2^53, else a decimal string. */
export const u64Out = (n) => (n === null ? null : n < 1n << 53n ? Number(n) : n.toString());
export const u64In = (v) => (v === null ? null : BigInt(v));

/** Backoff (SPEC §6): full jitter from splitmix64; attempt k's ceiling is
 * min(cap, base·2^min(k,32)), saturating; the generator only moves when the
 * ceiling is not 0, and a Retry-After replaces the delay (beyond the cap: none). */
export function backoff(policy, seed) {
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

export function headerValue(headers, name) {
  const h = headers.find(([k]) => k.toLowerCase() === name);
  return h === undefined ? undefined : h[1].trim();
}

export const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
export const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
export const LONG_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** RFC 9110 §5.6.7 HTTP-date, all three forms, to ms since the epoch; null when
 * unreadable, not a real day, or the weekday disagrees with the date. */
export function httpDate(text) {
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
export function retryAfterMs(headers) {
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
export function classifyAnswer(status, headers, body) {
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
export function sameOutcome(got, want) {
  if (got.error?.code === "invalid_response" && want.error) {
    const { message, ...rest } = want.error;
    return sameJson(got, { error: rest });
  }
  return sameJson(got, want);
}

export function checkProtocol() {
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
      if (ok) tally.passed++;
    }
  }
}
