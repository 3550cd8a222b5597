// The conversation list: names, last message, unread counts, resting marks.
// Rows are kept per conversation and only rebuilt when what they show changed.

import { avatar, clear, h, icon, time } from "./dom.js";

/** A snippet's text with its matches in <mark>; ranges count code points (§32). */
function marked(snippet) {
  if (!snippet) return [];
  const chars = Array.from(snippet.text);
  const out = [];
  let at = 0;
  for (const [start, end] of snippet.ranges) {
    const [s, e] = [Number(start), Number(end)];
    if (s < at) continue;
    out.push(chars.slice(at, s).join(""), h("mark", { text: chars.slice(s, e).join("") }));
    at = e;
  }
  out.push(chars.slice(at).join(""));
  return out;
}

export class ConversationListView {
  constructor(app, root, panels) {
    Object.assign(this, { app, root, panels });
    this.rows = new Map();  // conv → {el, key}
    this.filter = "";
    this.scheduled = false;
    const label = app.hasSearch ? "Search conversations and messages" : "Filter conversations";
    const search = h("input", { type: "search", class: "filter", placeholder: app.hasSearch ? "Search" : "Filter conversations",
      "aria-label": label, oninput: (e) => { this.filter = e.target.value.toLowerCase(); this.render(); this.searchSoon(e.target.value); },
      onkeydown: (e) => { if (e.key === "Enter") this.searchNow(e.target.value); } });
    this.ul = h("ul", { class: "conv-list", "aria-label": "Conversations" });
    this.hits = h("div", { class: "hits", "aria-live": "polite" });
    clear(root,
      h("div", { class: "side-header" }, h("h2", { text: "Chats" }),
        h("div", { class: "side-actions" },
          h("button", { type: "button", class: "icon-btn", "aria-label": "New chat", title: "New chat",
            onclick: () => panels.newChat() }, icon("pencil")),
          h("button", { type: "button", class: "icon-btn", "aria-label": "New group", title: "New group",
            onclick: () => panels.newGroup() }, icon("plus")))),
      h("div", { class: "side-search" }, search), h("div", { class: "side-scroll" }, this.ul, this.hits));
    for (const topic of ["convs", "people", "open"]) app.on(topic, () => this.schedule());
  }

  // ----- message search (revision 1.6) -----

  searchSoon(text) {
    clearTimeout(this.searchTimer);
    if (!this.app.hasSearch) return;
    this.searchTimer = setTimeout(() => this.searchNow(text), 350);
  }

  async searchNow(text, cursor = null) {
    clearTimeout(this.searchTimer);
    const query = text.trim();
    if (!this.app.hasSearch) return;
    if (query.length < 2) { clear(this.hits); return; }
    this.query = query;
    let page;
    try {
      page = await this.app.search(query, cursor);
    } catch (e) {
      clear(this.hits, h("p", { class: "muted hits-note", text: e.code === "bad_request" ? e.message : "Search is not available right now." }));
      return;
    }
    if (this.query !== query) return;  // a newer search was typed meanwhile
    if (!cursor) clear(this.hits, h("h3", { class: "hits-title", text: "Messages" }));
    this.hits.querySelector(".more-hits")?.remove();
    for (const hit of page.hits) this.hits.append(this.hitElement(hit));
    if (!cursor && !page.hits.length && !page.cursor) this.hits.append(h("p", { class: "muted hits-note", text: "No messages found." }));
    if (page.cursor) {
      this.hits.append(h("button", { type: "button", class: "link more-hits", onclick: () => this.searchNow(query, page.cursor) }, "More results"));
    }
  }

  hitElement(hit) {
    const app = this.app;
    const row = app.convs.get(hit.conv);
    const who = hit.from === app.user ? "You" : app.people.display(hit.from, hit);
    const where = row ? this.name(row) : "";
    return h("button", { type: "button", class: "hit", onclick: () => app.openAt(hit.conv, hit.seq) },
      h("span", { class: "conv-top" }, h("span", { class: "conv-name", text: who }),
        h("span", { class: "conv-time", text: time(hit.time) })),
      where && where !== who ? h("span", { class: "muted", text: `in ${where}` }) : null,
      h("span", { class: "snippet" }, marked(hit.snippet)));
  }

  /** Many frames in one turn (a sync page) repaint once. */
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => { this.scheduled = false; this.render(); });
  }

  render() {
    const app = this.app;
    const frag = document.createDocumentFragment();
    const openConv = app.openConv?.conv;
    let shown = 0;
    for (const row of app.convs.sorted()) {
      const name = this.name(row);
      if (this.filter && !name.toLowerCase().includes(this.filter)) continue;
      frag.append(this.row(row, name, row.conv === openConv));
      shown++;
    }
    if (!shown) {
      frag.append(h("li", { class: "conv-empty", text: this.filter ? "No match." : "No conversations yet. Start a chat or a group above." }));
    }
    this.ul.replaceChildren(frag);
    if (shown > 1 && !this.painted) {
      this.painted = true;
      performance.mark("list-rendered");  // for tests/web/bench.py
    }
    const total = app.convs.totalUnread();
    document.title = total ? `(${total}) corpchat` : "corpchat";
  }

  name(row) {
    if (row.kind === "direct" && row.peer) {
      return row.peer === this.app.user ? "Notes to self" : this.app.people.display(row.peer);
    }
    return row.name || `Conversation ${row.conv}`;
  }

  row(row, name, active) {
    const app = this.app;
    const resting = row.kind === "direct" && row.peer ? app.people.resting(row.peer) : null;
    const last = row.last;
    if (last && row.kind === "group" && last.kind === undefined) app.people.want(last.from);
    const preview = previewText(app, row, last);
    const muted = app.everyday.muted(row);
    const key = [name, active, row.unread, row.mentions, muted, last?.seq, last?.recalled, resting, row.left, preview].join("|");
    const cached = this.rows.get(row.conv);
    if (cached && cached.key === key) return cached.el;
    const unread = row.unread > 0 ? h("span", { class: `count${muted ? " muted-count" : ""}`, "aria-label": `${row.unread} unread` },
      row.unread > 99 ? "99+" : String(row.unread)) : null;
    const mention = row.mentions > 0 ? h("span", { class: "mention-badge", title: "You were mentioned",
      "aria-label": `${row.mentions} mention${row.mentions === 1 ? "" : "s"}` }, "@") : null;
    const el = h("li", {},
      h("button", { type: "button", class: `conv${active ? " active" : ""}${row.unread ? " has-unread" : ""}`,
        "aria-current": active ? "true" : null, "data-conv": row.conv, onclick: () => app.open(row.conv) },
      row.kind === "announce" ? h("span", { class: "avatar board", "aria-hidden": "true" }, icon("megaphone"))
        : h("span", { class: "avatar-wrap" }, avatar(row.peer || `g${row.conv}`, name),
          resting !== null ? h("span", { class: "rest-dot", title: "Resting" }) : null),
      h("span", { class: "conv-main" },
        h("span", { class: "conv-top" }, h("span", { class: "conv-name", text: name }),
          muted ? h("span", { class: "muted-mark", title: "Muted", "aria-label": "Muted" }, icon("bell-off")) : null,
          last ? h("span", { class: "conv-time", text: time(last.time) }) : null),
        h("span", { class: "conv-bottom" },
          h("span", { class: "conv-preview", text: row.left ? "You left this conversation" : preview }),
          resting !== null ? h("span", { class: "resting-mark small", text: "Resting" }) : null, mention, unread))));
    this.rows.set(row.conv, { el, key });
    return el;
  }
}

/** A row's last message in a line: who, and the text (or what kind of message it is). */
function previewText(app, row, last) {
  if (!last) return "";
  if (last.recalled || last.event === "recall") return "Message recalled";
  if (last.kind === "system") return last.event === "pin" ? "Pinned a message" : last.event === "unpin" ? "Unpinned a message" : "Group updated";
  const who = last.from === app.user ? "You: " : row.kind !== "direct" ? `${app.people.display(last.from, last)}: ` : "";
  const files = last.attachments?.length ? (last.kind === "image" ? "[Image] " : "[File] ") : "";
  const notice = last.notice ? "[Group notice] " : "";
  const mention = last.mentioned && last.seq > row.read ? "[@you] " : "";
  return `${mention}${notice}${who}${files}${last.text}`;
}
