// msgpack for corpchat frames (docs/protocol.md §3): a strict, bounded decoder
// and the canonical encoder of §3.3. No DOM; runs in any ES2020 engine.
//
// Values: str ↔ string, bin ↔ Uint8Array, bool, nil ↔ null, array ↔ Array,
// map ↔ plain object (keys in wire order, "__proto__" kept as an own key).
// Integers within ±(2^53 − 1) are numbers, beyond that BigInt. A float decodes
// to a MsgFloat, so that it never passes for an integer (§3.1: 1.0 is no uint).

export class MsgpackError extends Error {
  constructor(message, code = "bad_frame") {
    super(message);
    this.code = code;
  }
}

export class MsgFloat {
  constructor(value) { this.value = value; }
}

// What a client accepts from a server (§13, "Server frames") and what a
// server accepts from a client (§13, "Frame limits").
export const SERVER_LIMITS = Object.freeze({
  maxFrameBytes: 1024 * 1024, maxStrBytes: 256 * 1024, maxBinBytes: 32 * 1024,
  maxArrayLen: 20000, maxMapLen: 64, maxDepth: 8,
});
export const CLIENT_LIMITS = Object.freeze({
  maxFrameBytes: 64 * 1024, maxStrBytes: 32 * 1024, maxBinBytes: 32 * 1024,
  maxArrayLen: 1024, maxMapLen: 64, maxDepth: 8,
});

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8out = new TextEncoder();
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function setKey(obj, key, value) {
  // Plain assignment of "__proto__" would change the prototype instead.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

class Reader {
  constructor(bytes, limits) {
    this.b = bytes;
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = 0;
    this.limits = limits;
  }

  need(n) {
    if (this.at + n > this.b.length) throw new MsgpackError("truncated msgpack");
    const at = this.at;
    this.at += n;
    return at;
  }

  value(depth) {
    const t = this.b[this.need(1)];
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if ((t & 0xf0) === 0x80) return this.map(t & 0x0f, depth);
    if ((t & 0xf0) === 0x90) return this.array(t & 0x0f, depth);
    if ((t & 0xe0) === 0xa0) return this.str(t & 0x1f);
    return this.typed(t, depth);
  }

  typed(t, depth) {
    const v = this.v;
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.bin(this.b[this.need(1)]);
      case 0xc5: return this.bin(v.getUint16(this.need(2)));
      case 0xc6: return this.bin(v.getUint32(this.need(4)));
      case 0xca: return new MsgFloat(v.getFloat32(this.need(4)));
      case 0xcb: return new MsgFloat(v.getFloat64(this.need(8)));
      case 0xcc: return this.b[this.need(1)];
      case 0xcd: return v.getUint16(this.need(2));
      case 0xce: return v.getUint32(this.need(4));
      case 0xcf: return small(v.getBigUint64(this.need(8)));
      case 0xd0: return v.getInt8(this.need(1));
      case 0xd1: return v.getInt16(this.need(2));
      case 0xd2: return v.getInt32(this.need(4));
      case 0xd3: return small(v.getBigInt64(this.need(8)));
      case 0xd9: return this.str(this.b[this.need(1)]);
      case 0xda: return this.str(v.getUint16(this.need(2)));
      case 0xdb: return this.str(v.getUint32(this.need(4)));
      case 0xdc: return this.array(v.getUint16(this.need(2)), depth);
      case 0xdd: return this.array(v.getUint32(this.need(4)), depth);
      case 0xde: return this.map(v.getUint16(this.need(2)), depth);
      case 0xdf: return this.map(v.getUint32(this.need(4)), depth);
      case 0xc1: throw new MsgpackError("the never-used byte 0xc1");
      default: throw new MsgpackError("msgpack extension types are not allowed");
    }
  }

  str(n) {
    if (n > this.limits.maxStrBytes) throw new MsgpackError(`string of ${n} bytes is too long`);
    const at = this.need(n);
    try {
      return utf8.decode(this.b.subarray(at, at + n));
    } catch {
      throw new MsgpackError("string is not valid UTF-8");
    }
  }

  bin(n) {
    if (n > this.limits.maxBinBytes) throw new MsgpackError(`bin of ${n} bytes is too long`);
    const at = this.need(n);
    return this.b.slice(at, at + n);
  }

  array(n, depth) {
    if (n > this.limits.maxArrayLen) throw new MsgpackError(`array of ${n} items is too long`);
    this.deeper(depth);
    const out = [];
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
    return out;
  }

  map(n, depth) {
    if (n > this.limits.maxMapLen) throw new MsgpackError(`map of ${n} entries is too long`);
    this.deeper(depth);
    const out = {};
    for (let i = 0; i < n; i++) {
      const key = this.value(depth + 1);
      if (typeof key !== "string") throw new MsgpackError("map keys must be strings");
      setKey(out, key, this.value(depth + 1));
    }
    return out;
  }

  deeper(depth) {
    if (depth + 1 > this.limits.maxDepth) throw new MsgpackError("frame nests too deeply");
  }
}

function small(big) {
  return big <= SAFE && big >= -SAFE ? Number(big) : big;
}

/** Bytes → one msgpack value under `limits`; anything else is a MsgpackError. */
export function decode(bytes, limits = SERVER_LIMITS) {
  if (!(bytes instanceof Uint8Array)) bytes = new Uint8Array(bytes);
  if (bytes.length > limits.maxFrameBytes) {
    throw new MsgpackError(`frame of ${bytes.length} bytes exceeds ${limits.maxFrameBytes}`,
      "frame_too_large");
  }
  const reader = new Reader(bytes, limits);
  const value = reader.value(0);
  if (reader.at !== bytes.length) throw new MsgpackError("trailing bytes after the frame");
  return value;
}

class Writer {
  constructor() {
    this.buf = new Uint8Array(256);
    this.view = new DataView(this.buf.buffer);
    this.at = 0;
  }

  room(n) {
    if (this.at + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    bigger.set(this.buf.subarray(0, this.at));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }

  byte(b) { this.room(1); this.buf[this.at++] = b; }
  u16(t, n) { this.room(3); this.buf[this.at] = t; this.view.setUint16(this.at + 1, n); this.at += 3; }
  u32(t, n) { this.room(5); this.buf[this.at] = t; this.view.setUint32(this.at + 1, n); this.at += 5; }
  bytes(b) { this.room(b.length); this.buf.set(b, this.at); this.at += b.length; }

  value(v) {
    if (v === null) return this.byte(0xc0);
    if (v === true) return this.byte(0xc3);
    if (v === false) return this.byte(0xc2);
    switch (typeof v) {
      case "number": return this.int(v);
      case "bigint": return this.bigint(v);
      case "string": return this.str(v);
      case "object": return this.container(v);
      default: throw new MsgpackError(`cannot encode a ${typeof v}`, "internal_error");
    }
  }

  int(n) {
    if (!Number.isSafeInteger(n)) {
      throw new MsgpackError(`${n} is not an integer msgpack can carry exactly`, "internal_error");
    }
    if (n >= 0) {
      if (n <= 0x7f) return this.byte(n);
      if (n <= 0xff) return this.bytes([0xcc, n]);
      if (n <= 0xffff) return this.u16(0xcd, n);
      if (n <= 0xffffffff) return this.u32(0xce, n);
      return this.bigint(BigInt(n));
    }
    if (n >= -32) return this.byte(n + 0x100);
    if (n >= -128) return this.bytes([0xd0, n & 0xff]);
    if (n >= -32768) return this.u16(0xd1, n & 0xffff);
    if (n >= -2147483648) return this.u32(0xd2, n >>> 0);
    return this.bigint(BigInt(n));
  }

  bigint(n) {
    if (n >= -SAFE && n <= SAFE && Number(n) <= 0xffffffff) return this.int(Number(n));
    this.room(9);
    if (n >= 0n) {
      if (n > 0xffffffffffffffffn) throw new MsgpackError("integer beyond uint 64", "internal_error");
      this.buf[this.at] = 0xcf;
      this.view.setBigUint64(this.at + 1, n);
    } else {
      if (n < -(2n ** 63n)) throw new MsgpackError("integer beyond int 64", "internal_error");
      this.buf[this.at] = 0xd3;
      this.view.setBigInt64(this.at + 1, n);
    }
    this.at += 9;
  }

  str(s) {
    const b = utf8out.encode(s);
    const n = b.length;
    if (n <= 31) this.byte(0xa0 | n);
    else if (n <= 0xff) this.bytes([0xd9, n]);
    else if (n <= 0xffff) this.u16(0xda, n);
    else this.u32(0xdb, n);
    this.bytes(b);
  }

  container(v) {
    if (v instanceof Uint8Array) {
      const n = v.length;
      if (n <= 0xff) this.bytes([0xc4, n]);
      else if (n <= 0xffff) this.u16(0xc5, n);
      else this.u32(0xc6, n);
      return this.bytes(v);
    }
    if (v instanceof MsgFloat) throw new MsgpackError("floats are never written", "internal_error");
    if (Array.isArray(v)) {
      this.header(v.length, 0x90, 0xdc, 0xdd);
      for (const item of v) this.value(item);
      return;
    }
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    this.header(keys.length, 0x80, 0xde, 0xdf);
    for (const k of keys) { this.str(k); this.value(v[k]); }
  }

  header(n, fix, w16, w32) {
    if (n <= 15) this.byte(fix | n);
    else if (n <= 0xffff) this.u16(w16, n);
    else this.u32(w32, n);
  }
}

/** One value → its shortest msgpack bytes, maps in their keys' insertion order (§3.3). */
export function encode(value) {
  const w = new Writer();
  w.value(value);
  return w.buf.slice(0, w.at);
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}
