// Frames on the msgpack codec: the input rules of docs/protocol.md §3.2 and the
// canonical encoding of §3.3, both driven by schema.js (generated from the
// Python frames, so the two implementations read the same tables).

import { CLIENT_LIMITS, MsgFloat, MsgpackError, SERVER_LIMITS, decode, encode } from "./msgpack.js";
import { CLIENT, NESTED, SERVER } from "./schema.js";

const MAX_UINT = 2n ** 63n - 1n;

export class ProtocolError extends Error {
  /** code: a §11 error code; close: the close code (null: the connection stays); re: a request id. */
  constructor(code, message, { close = null, re = null } = {}) {
    super(message);
    this.code = code;
    this.close = close;
    this.re = re;
  }
}

export function isUint(v) {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0;
  return typeof v === "bigint" && v >= 0n && v <= MAX_UINT;
}

function isMap(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v)
    && !(v instanceof Uint8Array) && !(v instanceof MsgFloat);
}

function bad(message) {
  return new ProtocolError("bad_request", message);
}

// ----- decoding (rules 7–10) -----

function check(type, v, where) {
  if (type === "uint") {
    if (!isUint(v)) throw bad(`${where}: expected an unsigned integer`);
    return v;
  }
  if (type === "str") {
    if (typeof v !== "string") throw bad(`${where}: expected a string`);
    return v;
  }
  if (type === "bool") {
    if (typeof v !== "boolean") throw bad(`${where}: expected a boolean`);
    return v;
  }
  if (type === "map:uint") {
    if (!isMap(v) || !Object.values(v).every((x) => Number.isInteger(x) || typeof x === "bigint")) {
      throw bad(`${where}: expected a map of integers`);
    }
    return v;
  }
  if (type.startsWith("[")) {
    if (!Array.isArray(v)) throw bad(`${where}: expected an array`);
    const inner = type.slice(1, -1);
    return v.map((item) => check(inner, item, where));
  }
  if (!isMap(v)) throw bad(`${where}: expected a map`);
  return fromWire(type.slice(1), NESTED[type.slice(1)], v);
}

function fromWire(name, fields, data) {
  const out = { type: name };
  for (const [key, type, required, dflt] of fields) {
    const v = Object.hasOwn(data, key) ? data[key] : null;
    if (v === null) {
      if (required) throw bad(`${name}: field '${key}' is required`);
      if (dflt !== undefined) out[key] = structuredClone(dflt);
      continue;
    }
    out[key] = check(type, v, `${name}.${key}`);
  }
  return out;
}

function requestId(value) {
  return isUint(value.id) ? value.id : null;
}

/** A payload → a frame of `direction` ("server": what a client reads; "client": what a server
 *  reads), or a ProtocolError with the code, close code and `re` the §3.2 rules give. */
export function decodeFrame(bytes, direction = "server") {
  const limits = direction === "server" ? SERVER_LIMITS : CLIENT_LIMITS;
  let value;
  try {
    value = decode(bytes, limits);
  } catch (e) {
    if (!(e instanceof MsgpackError)) throw e;
    const close = e.code === "frame_too_large" ? 1009 : 1002;
    throw new ProtocolError(e.code, e.message, { close });
  }
  if (!isMap(value)) throw new ProtocolError("bad_frame", "a frame must be a map", { close: 1002 });
  const table = direction === "server" ? SERVER : CLIENT;
  const re = requestId(value);
  try {
    if (typeof value.type !== "string") throw bad("frame has no string 'type'");
    if (!Object.hasOwn(table, value.type)) {
      throw new ProtocolError("unknown_type", `unknown frame type ${JSON.stringify(value.type)}`);
    }
    return fromWire(value.type, table[value.type], value);
  } catch (e) {
    if (e instanceof ProtocolError) e.re = re;
    throw e;
  }
}

// ----- encoding (§3.3) -----

function ordered(type, v, where) {
  if (type.startsWith("[")) return v.map((item) => ordered(type.slice(1, -1), item, where));
  if (type.startsWith("@")) return toWire(type.slice(1), NESTED[type.slice(1)], v);
  check(type, v, where);
  return v;
}

function toWire(name, fields, frame) {
  const known = new Set(["type", ...fields.map((f) => f[0])]);
  for (const key of Object.keys(frame)) {
    if (!known.has(key)) throw new ProtocolError("internal_error", `${name} has no field '${key}'`);
  }
  const out = { type: name };
  for (const [key, type, required, dflt] of fields) {
    let v = frame[key];
    if (v === undefined || v === null) {
      if (dflt === undefined) {
        if (required) throw new ProtocolError("internal_error", `${name}.${key} is required`);
        continue;
      }
      v = dflt;
    }
    out[key] = ordered(type, v, `${name}.${key}`);
  }
  return out;
}

/** A frame (an object with `type`) → its canonical bytes. */
export function encodeFrame(frame, direction = "client") {
  const table = direction === "client" ? CLIENT : SERVER;
  if (!Object.hasOwn(table, frame.type)) {
    throw new ProtocolError("internal_error", `no ${direction} frame ${frame.type}`);
  }
  return encode(toWire(frame.type, table[frame.type], frame));
}

export { CLIENT, SERVER, NESTED };
