// The golden vectors of tests/vectors/*.json against the web client's codec.
// runVectors({name: jsonText}) → a list of failures (empty when all pass); the
// browser test (tests/web/test_codec.py) runs it in Chromium, and
// `node tests/web/js/run_node.mjs` runs it in Node.

import { decodeFrame, encodeFrame } from "../../../web/proto/frames.js";
import { fromHex, toHex } from "../../../web/proto/msgpack.js";

const BIG = "~bigint~";

/** JSON with integers beyond 2^53 kept exact, as BigInt (§15). */
export function parseJson(text) {
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|-?\d{16,}/g,
    (tok) => (tok.startsWith('"') ? tok : `"${BIG}${tok}"`));
  return JSON.parse(marked, (_k, v) => {
    if (typeof v !== "string" || !v.startsWith(BIG)) return v;
    const n = BigInt(v.slice(BIG.length));
    return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  });
}

export function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k, i) => k === kb[i] && deepEqual(a[k], b[k]));  // key order matters too
}

function show(v) {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
}

function roundTrip(v, direction, fail) {
  const frame = decodeFrame(fromHex(v.hex), direction);
  if (!deepEqual(frame, v.frame)) fail(`decodes to ${show(frame)}`);
  const hex = toHex(encodeFrame(v.frame, direction));
  if (hex !== v.hex) fail(`encodes to ${hex}`);
}

function accepted(v, fail) {
  const frame = decodeFrame(fromHex(v.hex), v.direction);
  if (!deepEqual(frame, v.frame)) fail(`decodes to ${show(frame)}`);
  const hex = toHex(encodeFrame(frame, v.direction));
  if (hex !== v.canonical_hex) fail(`re-encodes to ${hex}`);
}

function invalid(v, fail) {
  try {
    decodeFrame(fromHex(v.hex), v.direction);
  } catch (e) {
    if (e.code !== v.code) fail(`refused with ${e.code} (${e.message})`);
    if (e.close !== v.close) fail(`close ${e.close}`);
    if (v.direction === "client" && e.re !== v.re) fail(`re ${e.re}`);
    return;
  }
  fail("was accepted");
}

export function runVectors(files) {
  const failures = [];
  let count = 0;
  for (const [name, text] of Object.entries(files)) {
    const doc = parseJson(text);
    for (const v of doc.vectors) {
      count++;
      const fail = (what) => failures.push(`${name}: ${v.name}: ${what}`);
      try {
        if (name.startsWith("accepted")) accepted(v, fail);
        else if (name.startsWith("invalid")) invalid(v, fail);
        else roundTrip(v, doc.direction, fail);
      } catch (e) {
        fail(`threw ${e.code || ""} ${e.message}`);
      }
    }
  }
  return { count, failures };
}
