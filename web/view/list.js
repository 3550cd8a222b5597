// The conversation list: names, last message, unread counts, resting marks.
// Rows are kept per conversation and only rebuilt when what they show changed.

import { avatar, clear, h, icon, time } from "./dom.js";

export class ConversationListView {
  constructor(app, root, panels) {
    Object.assign(this, { app, root, panels });
    this.rows = new Map();  // conv → {el, key}
    this.filter = "";
    this.scheduled = false;
    const search = h("input", { type: "search", class: "filter", placeholder: "Filter conversations",
      "aria-label": "Filter conversations", oninput: (e) => { this.filter = e.target.value.toLowerCase(); this.render(); } });
    this.ul = h("ul", { class: "conv-list", "aria-label": "Conversations" });
    clear(root,
      h("div", { class: "side-header" }, h("h2", { text: "Chats" }),
        h("div", { class: "side-actions" },
          h("button", { type: "button", class: "icon-btn", "aria-label": "New chat", title: "New chat",
            onclick: () => panels.newChat() }, icon("pencil")),
          h("button", { type: "button", class: "icon-btn", "aria-label": "New group", title: "New group",
            onclick: () => panels.newGroup() }, icon("plus")))),
      h("div", { class: "side-search" }, search), this.ul);
    for (const topic of ["convs", "people", "open"]) app.on(topic, () => this.schedule());
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
    const preview = !last ? "" : last.recalled || last.event === "recall" ? "Message recalled"
      : last.kind === "system" ? "Group updated"
      : `${last.from === app.user ? "You: " : row.kind !== "direct" ? `${app.people.display(last.from, last)}: ` : ""}${last.text}`;
    const key = [name, active, row.unread, last?.seq, last?.recalled, resting, row.left, preview].join("|");
    const cached = this.rows.get(row.conv);
    if (cached && cached.key === key) return cached.el;
    const unread = row.unread > 0 ? h("span", { class: "count", "aria-label": `${row.unread} unread` },
      row.unread > 99 ? "99+" : String(row.unread)) : null;
    const el = h("li", {},
      h("button", { type: "button", class: `conv${active ? " active" : ""}${row.unread ? " has-unread" : ""}`,
        "aria-current": active ? "true" : null, "data-conv": row.conv, onclick: () => app.open(row.conv) },
      row.kind === "announce" ? h("span", { class: "avatar board", "aria-hidden": "true" }, icon("megaphone"))
        : h("span", { class: "avatar-wrap" }, avatar(row.peer || `g${row.conv}`, name),
          resting !== null ? h("span", { class: "rest-dot", title: "Resting" }) : null),
      h("span", { class: "conv-main" },
        h("span", { class: "conv-top" }, h("span", { class: "conv-name", text: name }),
          last ? h("span", { class: "conv-time", text: time(last.time) }) : null),
        h("span", { class: "conv-bottom" },
          h("span", { class: "conv-preview", text: row.left ? "You left this conversation" : preview }),
          resting !== null ? h("span", { class: "resting-mark small", text: "Resting" }) : null, unread))));
    this.rows.set(row.conv, { el, key });
    return el;
  }
}
