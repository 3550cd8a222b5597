// View models of conversations: the list (with unread counts and last
// messages) and each open chat (messages by seq, local sends with their state).
// Plain objects; the views read them and call the methods below.

export const PAGE = 100;

/** A person's message (text, or files: kind image / voice / video / file), not a system line. */
export function isText(m) {
  return m.kind !== "system" && !m.recalled;
}

export class ChatModel {
  constructor(conv) {
    this.conv = conv;
    this.bySeq = new Map();  // seq → msg
    this.local = new Map();  // client_msg_id → {frame, state: "sending" | "failed", code}
    this.oldest = null;  // the smallest seq loaded
    this.more = true;  // older messages exist on the server
    this.loading = false;
    this.receipts = new Map();  // seq → {readCount, unreadCount} for our receipt messages
    this.typing = new Map();  // user → until (ms)
  }

  add(m) {
    const had = this.bySeq.has(m.seq);
    this.bySeq.set(m.seq, m);
    this.dirty = true;
    if (this.oldest === null || m.seq < this.oldest) this.oldest = m.seq;
    return !had;
  }

  /** Messages in seq order (kept sorted between changes: a long chat re-renders often). */
  list() {
    if (!this.sorted || this.sorted.length !== this.bySeq.size || this.dirty) {
      this.sorted = [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
      this.dirty = false;
    }
    return this.sorted;
  }

  last() {
    let best = null;
    for (const m of this.bySeq.values()) if (!best || m.seq > best.seq) best = m;
    return best;
  }
}

export class ConversationList {
  constructor() {
    this.byConv = new Map();  // conv → summary
  }

  /** From a `conv` map of the `conversations` reply. */
  upsert(c) {
    const old = this.byConv.get(c.conv) || { unread: 0, mentions: 0, last: null, typing: new Map() };
    const row = { ...old, conv: c.conv, kind: c.kind, name: c.name, peer: c.peer,
      lastSeq: c.last_seq, lastPos: c.last_pos, read: c.read, left: !!c.left,
      mutedUntil: c.muted_until ?? null, notice: c.notice ?? null };
    if (c.last && c.last.seq >= (row.last?.seq ?? 0)) row.last = c.last;  // 1.9: the preview comes with the list
    this.byConv.set(c.conv, row);
    return row;
  }

  get(conv) { return this.byConv.get(conv); }

  /** A message arrived (live, synced or our own ack). */
  touch(m, self) {
    let row = this.byConv.get(m.conv);
    if (!row) {
      row = { conv: m.conv, kind: m.to !== undefined ? "direct" : "group", name: "",
        peer: m.to !== undefined ? (m.from === self ? m.to : m.from) : undefined,
        lastSeq: 0, lastPos: 0, read: 0, unread: 0, mentions: 0, last: null, left: false, typing: new Map(),
        mutedUntil: null, notice: null };
      if (row.kind === "direct") row.name = row.peer;
      this.byConv.set(m.conv, row);
    }
    if (m.seq >= (row.last?.seq ?? 0)) row.last = m;
    if (m.seq > row.lastSeq) {
      row.lastSeq = m.seq;
      row.lastPos = Number(m.pos);
      if (isText(m) && m.from !== self && m.seq > row.read) {
        row.unread += 1;
        if (m.mentioned) row.mentions = (row.mentions || 0) + 1;
      }
    }
    if (m.notice && m.seq >= (row.notice ?? 0)) row.notice = m.seq;
    if (m.kind === "system" && m.event === "rename" && m.name) row.name = m.name;
    if (m.kind === "system" && m.event === "create" && m.name) row.name = m.name;
    return row;
  }

  setUnread(list) {
    const seen = new Set();
    for (const u of list) {
      const row = this.byConv.get(u.conv);
      if (row) {
        row.unread = Number(u.unread);
        row.mentions = Number(u.mentions ?? 0);
        row.read = u.read;
      }
      seen.add(u.conv);
    }
    for (const [conv, row] of this.byConv) if (!seen.has(conv)) row.unread = row.mentions = 0;
  }

  /** The read cursor moved to `seq` (`left`: how many unread messages remain after it). */
  markRead(conv, seq, left = 0) {
    const row = this.byConv.get(conv);
    if (!row || seq < row.read) return false;
    row.read = seq;
    row.unread = left;
    row.mentions = 0;
    return true;
  }

  /** Most recently active first; the notice board with the others. */
  sorted() {
    return [...this.byConv.values()].sort((a, b) => b.lastPos - a.lastPos || b.conv - a.conv);
  }

  totalUnread() {
    let n = 0;
    for (const row of this.byConv.values()) n += row.unread;
    return n;
  }
}
