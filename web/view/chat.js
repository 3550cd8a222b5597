// The chat pane: header, the message log (history on scroll up, live messages,
// local sends with their state, read receipts), typing line and composer.

import { isText } from "../model/chats.js";
import { sizeText } from "../model/media.js";
import { restingText } from "../model/quiet.js";
import { avatar, clear, dayLabel, h, icon, time } from "./dom.js";
import { actionsButton, composeBar, editedMark, everydayItems, forwardedLine, selectBar, selectBox, headerActions, mentionCompletion, noticeBanner,
  noticeCard, quoteBlock, reactionsRow, withMentions } from "./everyday.js";
import { imageThumb } from "./media.js";

const GROUP_MS = 5 * 60 * 1000;
const MAX_DOM = 1500;  // messages in the page at once; the rest stay in the model only
const STEP = 100;
const RECALL_MS = 24 * 3600 * 1000;

const SYSTEM_TEXT = {
  create: (m, who) => `${who} created the group “${m.name}”`,
  add: (m, who, names) => `${who} added ${names}`,
  remove: (m, who, names) => `${who} removed ${names}`,
  leave: (m, who) => `${who} left the group`,
  rename: (m, who) => `${who} renamed the group to “${m.name}”`,
  role: (m, who, names) => `${who} made ${names} ${m.name === "admin" ? "an admin" : "a member"}`,
  transfer: (m, who, names) => `${who} handed the group over to ${names}`,
  dissolve: (m, who) => `${who} dissolved the group`,
  recall: (m, who) => `${who} recalled a message`,
  pin: (m, who) => `${who} pinned a message`,
  unpin: (m, who) => `${who} unpinned a message`,
};

export class ChatView {
  constructor(app, root, panels) {
    Object.assign(this, { app, root, panels });
    this.els = new Map();  // seq → element, kept across renders
    this.conv = null;
    app.on("open", (open) => this.show(open));
    app.on("chat", (d) => this.changed(d));
    app.on("people", () => { this.header(); if (this.list) this.render(); });
    app.on("convs", () => this.header());
    app.on("group", (conv) => { if (conv === this.conv) this.header(); });
    app.on("uploads", () => this.showUploads?.());
    app.on("focus", ({ conv, seq }) => { if (conv === this.conv) this.focus(seq); });
    app.on("pins", (conv) => { if (conv === this.conv) { this.header(); this.render(); } });
    app.on("compose", () => this.showCompose?.());
    app.on("select", () => this.selectionChanged());
    setInterval(() => this.typingLine(), 1000);
    this.empty();
  }

  empty() {
    this.conv = null;
    clear(this.root, h("div", { class: "placeholder" },
      h("div", { class: "placeholder-mark", "aria-hidden": "true" }),
      h("h2", { text: "Welcome to corpchat" }),
      h("p", { text: "Pick a conversation on the left, or start a new one." })));
  }

  /** The same chat shown again: a new direct chat becoming its conversation at the first
   *  send's ack, or that send itself. What the person is typing meanwhile must survive. */
  continues(open) {
    if (open.conv !== undefined && open.conv === this.conv) return true;
    if (!this.draftTo) return false;
    return open.draftTo === this.draftTo || this.app.convs.get(open.conv)?.peer === this.draftTo;
  }

  keepTyping(old) {
    const input = this.composer.querySelector("textarea");
    if (!input || !old.value) return;
    input.value = old.value;
    if (old === document.activeElement || document.activeElement === document.body) {
      input.focus();
      input.setSelectionRange(old.selectionStart, old.selectionEnd);
    }
  }

  show(open) {
    if (this.app.everyday.selecting?.conv !== open.conv) this.app.everyday.selecting = null;  // another chat
    const kept = this.continues(open) ? this.composer?.querySelector("textarea") : null;
    this.conv = open.conv ?? null;
    this.draftTo = open.draftTo ?? null;
    this.els = new Map();
    this.days = new Map();
    this.headerEl = h("header", { class: "chat-header" });
    this.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Messages",
      tabindex: "0" });
    this.older = h("div", { class: "older", "aria-hidden": "true" });
    this.list = h("div", { class: "messages" });
    this.log.append(this.older, this.list);
    this.jump = h("button", { class: "jump", hidden: true, type: "button",
      onclick: () => this.toBottom() }, "New messages ↓");
    this.typingEl = h("div", { class: "typing", "aria-live": "polite" });
    this.composer = this.buildComposer();
    clear(this.root, this.headerEl, h("div", { class: "log-wrap" }, this.log, this.jump),
      this.typingEl, this.composer);
    this.header();
    this.render();
    this.toBottom();
    this.observeTop();
    if (kept) this.keepTyping(kept);
    // Messages off screen are laid out at an estimated height (content-visibility) and
    // images load later: while the person is at the newest messages, keep them there
    // as the log's real height settles. Their move away from the bottom ends it (a
    // wheel, touch, key or pointer just before, or a scroll far up), not the browser
    // clamping the position to a log that shrank for a moment while heights settle.
    new ResizeObserver(() => { if (this.wantBottom) this.pin(); }).observe(this.list);
    for (const input of ["wheel", "touchmove", "keydown", "pointerdown"]) {
      this.log.addEventListener(input, () => { this.userScrollAt = Date.now(); }, { passive: true });
    }
    this.log.addEventListener("scroll", () => {
      const up = this.log.scrollTop < this.pinnedTop - 2;
      const theirs = Date.now() - (this.userScrollAt || 0) < 1000;
      const far = this.log.scrollTop < this.log.scrollHeight - 3 * this.log.clientHeight;
      if (up && (theirs || far)) this.wantBottom = false;
      if (this.atBottom()) { this.wantBottom = true; this.jump.hidden = true; this.app.markSeen(); }
      this.nearTop();
      this.nearBottom();
    });
    document.body.classList.add("chat-open");
  }

  /** Near the top: the next page of history (the observer alone misses a sentinel that stays
   *  in view across a page, as it does when the page is short). */
  nearTop() {
    if (this.conv === null || this.log.scrollTop >= 400) return;
    const chat = this.app.chat(this.conv);
    if (this.firstSeq !== null && chat.oldest !== null && chat.oldest < this.firstSeq) {
      this.keepingPlace(() => this.prependOlder());  // still in the model
    } else {
      this.app.loadOlder(this.conv);
    }
  }

  nearBottom() {
    if (this.conv === null || this.atNewest) return;
    if (this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 400) {
      this.keepingPlace(() => this.appendNewer());
    }
  }

  observeTop() {
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && this.conv !== null) this.app.loadOlder(this.conv);
    }, { root: this.log, rootMargin: "400px 0px 0px 0px" });
    io.observe(this.older);
  }

  // ----- header -----

  header() {
    if (!this.headerEl) return;
    // The header may grow (the notice banner): someone at the newest messages stays there.
    const stick = this.log && this.atBottom();
    this.fillHeader();
    if (stick) this.pin();
  }

  fillHeader() {
    const app = this.app;
    const row = this.conv !== null ? app.convs.get(this.conv) : null;
    const peer = row?.kind === "direct" ? row.peer : this.draftTo;
    const name = peer ? app.people.display(peer) : row?.name || "";
    const sub = [];
    if (peer) {
      const until = app.people.resting(peer);
      if (until !== null) sub.push(h("span", { class: "resting-mark" }, until ? restingText(until) : "Resting"));
      const title = app.people.title(peer);
      if (title) sub.push(h("span", { text: title }));
    } else if (row?.kind === "group") {
      const g = app.people.groups.get(this.conv);
      if (g) sub.push(h("span", { text: `${g.members.length} members` }));
    } else if (row?.kind === "announce") {
      sub.push(h("span", { text: "Company notice board" }));
    }
    const actions = headerActions(this, row);
    if (row?.kind === "group" && !row.left) {
      actions.push(h("button", { class: "btn ghost", type: "button", "aria-label": "Group members and settings",
        onclick: () => this.panels.group(this.conv) }, "Members"));
    }
    clear(this.headerEl,
      h("button", { class: "back", type: "button", "aria-label": "Back to conversations",
        onclick: () => document.body.classList.remove("chat-open") }, "‹"),
      row?.kind === "announce" ? h("span", { class: "avatar board", "aria-hidden": "true" }, icon("megaphone"))
        : avatar(peer || String(this.conv), name),
      h("div", { class: "chat-title" }, h("h1", { text: name }), h("div", { class: "chat-sub" }, sub)),
      h("div", { class: "chat-actions" }, actions));
    const banner = noticeBanner(this, row);
    if (banner) this.headerEl.append(banner);
  }

  // ----- the log -----

  changed(d) {
    if (d.conv !== this.conv || !this.list) return;
    if (d.typing) return this.typingLine();
    if (d.receipts !== undefined) return this.updateReceipt(d.receipts);
    if (d.changed !== undefined) this.header();  // an edit, a reaction, a confirmed notice
    if (d.older && this.firstSeq === null) {  // the chat's first page: show its newest messages
      this.render();
      return this.toBottom();
    }
    if (d.older) return this.keepingPlace(() => this.prependOlder());
    if (!this.atNewest && d.local === undefined) {  // reading far back: do not pull them down
      if (d.added) this.jump.hidden = false;
      return;
    }
    const stick = this.atBottom() || d.local !== undefined;
    this.render();
    if (stick) this.toBottom();
    else if (d.added) this.jump.hidden = false;
  }

  /** Change the log without moving what the person looks at (no jump). */
  keepingPlace(change) {
    const anchor = [...this.list.children].find((el) => el.offsetTop + el.offsetHeight > this.log.scrollTop);
    const before = anchor ? anchor.offsetTop - this.log.scrollTop : 0;
    change();
    if (anchor?.isConnected) this.log.scrollTop = anchor.offsetTop - before;
    requestAnimationFrame(() => this.nearTop());
  }

  /** Show the message `seq` (a search hit): the page around it, scrolled to it, marked. */
  focus(seq) {
    this.render(seq);
    const el = this.els.get(seq);
    if (!el) return;
    this.wantBottom = false;  // they look at this one now
    el.scrollIntoView({ block: "center" });
    el.classList.add("found");
    setTimeout(() => el.classList.remove("found"), 2500);
  }

  render(around = null) {
    const chat = this.conv !== null ? this.app.chat(this.conv) : null;
    const all = chat ? chat.list() : [];
    const at = around === null ? -1 : all.findIndex((m) => m.seq === around);
    const start = at < 0 ? Math.max(0, all.length - MAX_DOM) : Math.max(0, Math.min(at - MAX_DOM / 2, all.length - MAX_DOM));
    const msgs = all.slice(start, start + MAX_DOM);
    this.els = new Map([...this.els].filter(([seq]) => msgs.length && seq >= msgs[0].seq));
    const { frag } = this.build(msgs);
    const newest = start + msgs.length >= all.length;
    if (newest) {
      for (const [id, local] of chat ? chat.local : this.draftLocals()) frag.append(this.localElement(id, local));
    }
    if (!msgs.length && !(chat?.local.size) && !chat?.loading) {
      frag.append(h("p", { class: "log-empty", text: this.draftTo
        ? `This is the start of your conversation with ${this.app.people.display(this.draftTo)}.`
        : "No messages yet." }));
    }
    this.list.replaceChildren(frag);
    this.firstSeq = msgs.length ? msgs[0].seq : null;
    this.lastSeq = msgs.length ? msgs[msgs.length - 1].seq : null;
    this.atNewest = newest;
    this.older.textContent = chat && chat.more && msgs.length ? "Loading older messages…" : "";
  }

  /** Elements for `msgs` (in seq order) with their day separators and sender runs. */
  build(msgs) {
    const frag = document.createDocumentFragment();
    let prev = null;
    let prevDay = null;
    for (const m of msgs) {
      const day = this.dayOf(m);
      if (day !== prevDay) {
        frag.append(h("div", { class: "day", role: "separator", "data-day": day }, h("span", { text: day })));
        prev = null;
        prevDay = day;
      }
      const el = this.element(m);
      el.classList.toggle("cont", !!continues(prev, m));
      frag.append(el);
      prev = m;
    }
    return { frag, last: prev, lastDay: prevDay };
  }

  /** A page of history came: put only its messages in front (a long chat stays cheap). */
  prependOlder() {
    const chat = this.app.chat(this.conv);
    const msgs = chat.list();
    if (this.firstSeq === null || !this.list.firstElementChild) return this.render();
    const older = msgs.filter((m) => m.seq < this.firstSeq).slice(-STEP);
    const { frag, last, lastDay } = this.build(older);
    const head = this.list.firstElementChild;
    const firstOld = chat.bySeq.get(this.firstSeq);
    if (head.dataset.day === lastDay) {
      head.remove();  // the same day goes on: one separator
      this.els.get(this.firstSeq)?.classList.toggle("cont", !!continues(last, firstOld));
    }
    this.list.prepend(frag);
    if (older.length) this.firstSeq = older[0].seq;
    this.trim(msgs, "bottom");
    this.older.textContent = chat.more ? "Loading older messages…" : "";
  }

  /** Scrolled down after reading far back: the next newer messages from the model. */
  appendNewer() {
    const msgs = this.app.chat(this.conv).list();
    const newer = msgs.filter((m) => m.seq > this.lastSeq).slice(0, STEP);
    if (!newer.length) return;
    const { frag } = this.build(newer);
    const first = frag.firstElementChild;
    const tail = [...this.list.querySelectorAll(".day")].pop();
    if (first?.dataset.day && tail?.dataset.day === first.dataset.day) first.remove();
    this.list.append(frag);
    this.lastSeq = newer[newer.length - 1].seq;
    this.atNewest = this.lastSeq === msgs[msgs.length - 1].seq;
    this.trim(msgs, "top");
    if (this.atNewest) this.render();  // with the local sends again
  }

  /** Keep at most MAX_DOM messages in the page, dropping those at `end`, far out of view. */
  trim(msgs, end) {
    const shown = msgs.filter((m) => m.seq >= this.firstSeq && m.seq <= this.lastSeq);
    if (shown.length <= MAX_DOM) return;
    const keep = end === "bottom" ? shown.slice(0, MAX_DOM) : shown.slice(-MAX_DOM);
    const [lo, hi] = [keep[0].seq, keep[keep.length - 1].seq];
    for (const el of [...this.list.children]) {
      const seq = el.dataset.seq !== undefined ? Number(el.dataset.seq) : null;
      if (seq !== null && (seq < lo || seq > hi)) { el.remove(); this.els.delete(seq); }
      if (el.dataset.local !== undefined && end === "bottom") el.remove();
    }
    this.firstSeq = lo;
    this.lastSeq = hi;
    if (end === "bottom") this.atNewest = false;
  }

  /** The day a message is shown under, computed once per message (locale formatting is slow). */
  dayOf(m) {
    let day = this.days.get(m.seq);
    if (day === undefined) {
      day = dayLabel(m.time);
      this.days.set(m.seq, day);
    }
    return day;
  }

  draftLocals() {
    const d = this.app.draftLocal;
    return d ? [[d.id, d]] : [];
  }

  element(m) {
    if (m.kind !== "system" && !m.display) this.app.people.want(m.from);  // their name, once
    const key = `${m.seq}:${m.recalled ? "r" : ""}:${this.app.people.display(m.from, m)}:${everydayKey(this.app, m)}`;
    const cached = this.els.get(m.seq);
    if (cached && cached.dataset.key === key) return cached;
    const el = m.kind === "system" ? this.systemElement(m) : this.messageElement(m);
    el.dataset.key = key;
    this.els.set(m.seq, el);
    return el;
  }

  systemElement(m) {
    const people = this.app.people;
    const who = m.from === this.app.user ? "You" : people.display(m.from, m);
    const names = (m.users || []).map((u) => (u === this.app.user ? "you" : people.display(u))).join(", ");
    const text = (SYSTEM_TEXT[m.event] || (() => `${who} changed the group`))(m, who, names);
    return h("div", { class: "system", "data-seq": m.seq }, h("span", { text }));
  }

  messageElement(m) {
    const app = this.app;
    const mine = m.from === app.user;
    const name = mine ? "You" : app.people.display(m.from, m);
    const files = m.recalled ? [] : m.attachments || [];
    const known = m.kind === undefined || MEDIA_KINDS.has(m.kind) || (m.kind === "card" && m.card);
    const body = m.recalled ? h("div", { class: "bubble recalled", text: "This message was recalled" })
      : !known ? h("div", { class: "bubble recalled", text: "A message this version cannot show" })
        : m.card ? [files.length ? h("div", { class: "files" }, files.map((f) => this.fileElement(f))) : null,
          cardElement(m.card)]
        : [files.length ? h("div", { class: "files" }, files.map((f) => this.fileElement(f))) : null,
          m.text ? h("div", { class: "bubble" }, withMentions(app, m, m.text, linkify)) : null];
    const meta = h("div", { class: "meta" },
      h("time", { datetime: new Date(Number(m.time)).toISOString(), text: time(m.time) }),
      m.urgent ? h("span", { class: "urgent-tag", text: "Urgent" }) : null,
      editedMark(m),
      mine && !m.recalled ? h("span", { class: "state sent", text: "Sent" }) : null,
      this.actions(m));
    const el = h("article", { class: `message${mine ? " mine" : ""}${m.mentioned ? " mentioned" : ""}${m.notice ? " notice" : ""}`, "data-seq": m.seq,
      "aria-label": `${name}, ${time(m.time)}` },
      selectBox(app, m), avatar(m.from, mine ? app.people.display(m.from) : name),
      h("div", { class: "content" },
        h("div", { class: "who" }, h("span", { class: "name", text: name }),
          m.title && !mine ? h("span", { class: "title", text: m.title }) : null,
          m.external && !mine ? h("span", { class: "badge ext", text: "External" }) : null),
        noticeCard(this, m), forwardedLine(app, m), m.recalled ? null : quoteBlock(app, m),
        body, reactionsRow(this, m), meta, this.receiptLine(m)));
    return el;
  }

  /** An image as a thumbnail (click: the full image), any other file as name and size. */
  fileElement(f) {
    if (f.kind === "image") return imageThumb(this.app.mediaUrls, f);
    const link = h("a", { target: "_blank", rel: "noopener", class: "file", "aria-label": `Download ${f.name}` });
    this.app.mediaUrls.get(f.media).then((url) => { link.href = url; }, () => link.classList.add("gone"));
    link.append(h("span", { class: "file-icon", "aria-hidden": "true", text: (f.name.split(".").pop() || "file").slice(0, 4).toUpperCase() }),
      h("span", { class: "file-meta" }, h("span", { class: "file-name", text: f.name || "file" }),
        h("span", { class: "muted", text: sizeText(f.size ?? 0) })));
    return link;
  }

  actions(m) {
    if (m.recalled || !isText(m)) return null;
    const mine = m.from === this.app.user;
    const role = this.app.people.myRole(this.conv);
    const canRecall = (mine && Date.now() - Number(m.time) < RECALL_MS) || role === "owner" || role === "admin";
    const items = everydayItems(this, m);
    if (canRecall) items.push({ label: "Recall", run: () => this.app.recall(this.conv, m.seq) });
    return items.length ? actionsButton(items) : null;
  }

  receiptLine(m) {
    if (!m.receipt || m.from !== this.app.user || m.recalled) return null;
    const chat = this.app.chat(this.conv);
    const known = chat.receipts.get(m.seq);
    if (!known) this.app.receipts(this.conv, m.seq);
    const el = h("button", { type: "button", class: "receipt-line", "data-receipt": m.seq, "data-notice": m.notice ? "" : null,
      onclick: () => this.panels.receipts(this.conv, m.seq) });
    fillReceipt(el, known);
    return el;
  }

  updateReceipt(seq) {
    const el = this.list.querySelector(`[data-receipt="${seq}"]`);
    if (el) fillReceipt(el, this.app.chat(this.conv).receipts.get(seq));
  }

  localElement(id, local) {
    const failed = local.state === "failed";
    return h("article", { class: `message mine local${failed ? " failed" : ""}`, "data-local": id },
      avatar(this.app.user, this.app.people.display(this.app.user)),
      h("div", { class: "content" },
        local.frame.text ? h("div", { class: "bubble" }, linkify(local.frame.text)) : null,
        local.frame.attachments ? h("div", { class: "bubble muted", text: `${local.frame.attachments.length} file(s)` }) : null,
        h("div", { class: "meta" },
          failed ? h("span", { class: "state failed", text: "Failed to send" })
            : h("span", { class: "state sending", text: "Sending…" }),
          failed && this.conv !== null ? h("button", { type: "button", class: "link",
            onclick: () => this.app.retry(this.conv, id) }, "Retry") : null)));
  }

  typingLine() {
    if (!this.typingEl) return;
    const chat = this.conv !== null ? this.app.chats.get(this.conv) : null;
    const now = Date.now();
    const who = chat ? [...chat.typing].filter(([, until]) => until > now).map(([u]) => this.app.people.display(u)) : [];
    const text = who.length === 0 ? "" : who.length === 1 ? `${who[0]} is typing…` : `${who.join(", ")} are typing…`;
    if (this.typingEl.textContent !== text) this.typingEl.textContent = text;
  }

  /** Scroll to the newest message; remember where that was (a scroll above it is theirs). */
  pin() {
    this.log.scrollTop = this.log.scrollHeight;
    this.pinnedTop = this.log.scrollTop;
  }

  atBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
  }

  toBottom() {
    this.wantBottom = true;
    if (!this.atNewest) this.render();
    this.pin();
    this.jump.hidden = true;
  }

  /** Choosing messages to forward: their checkboxes, and the bar in the composer's place. */
  selectionChanged() {
    if (!this.list) return;
    const sel = this.app.everyday.selecting;
    const choosing = sel && sel.conv === this.conv;
    this.root.classList.toggle("selecting", !!choosing);
    const bar = choosing ? selectBar(this) : this.composer;
    this.root.querySelector(".select-bar")?.remove();
    if (choosing) {
      this.composer.hidden = true;
      this.root.append(bar);
    } else {
      this.composer.hidden = false;
    }
    this.render();
  }

  // ----- composer -----

  buildComposer() {
    const app = this.app;
    const row = this.conv !== null ? app.convs.get(this.conv) : null;
    if (row?.left) return h("div", { class: "composer closed", text: "You are no longer a member of this conversation." });
    const board = row?.kind === "announce";
    if (board && app.cannotAnnounce) return h("div", { class: "composer closed", text: "Only company admins post notices." });
    const input = h("textarea", { rows: "1", "aria-label": board ? "Notice" : "Message",
      placeholder: board ? "Post a notice to everyone in the company"
        : `Message ${row?.kind === "group" ? row.name : app.people.display(row?.peer || this.draftTo || "")}`,
      maxlength: "4000" });
    const receipt = h("input", { type: "checkbox", id: "opt-receipt" });
    const urgent = h("input", { type: "checkbox", id: "opt-urgent" });
    const send = () => {
      const text = input.value;
      input.value = "";  // first: sending a new chat's first message shows the chat again
      app.send(text, { receipt: receipt.checked, urgent: urgent.checked });
      receipt.checked = urgent.checked = false;
      grow();
      input.focus();
    };
    const grow = () => { input.style.height = "auto"; input.style.height = `${Math.min(input.scrollHeight, 160)}px`; };
    // Before the Enter-sends listener: Enter picks a completion while the list is open.
    const mentions = app.hasEveryday && this.conv !== null && !board ? mentionCompletion(app, input, this.conv) : null;
    const bar = h("div", { class: "compose-slot" });
    this.showCompose = () => {
      const ed = app.everyday;
      clear(bar, composeBar(app));
      if (ed.editing && input.dataset.editing !== String(ed.editing.seq)) {
        input.value = ed.editing.text;
        input.dataset.editing = String(ed.editing.seq);
      } else if (!ed.editing && input.dataset.editing) {
        input.value = "";
        delete input.dataset.editing;
      }
      grow();
      if (ed.editing || ed.replyTo) input.focus();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && (app.everyday.editing || app.everyday.replyTo)) { app.everyday.cancelCompose(); return; }
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
    });
    input.addEventListener("input", () => { grow(); app.typingNow(); });
    const strip = h("div", { class: "uploads", "aria-live": "polite" });
    const showUploads = () => clear(strip, app.uploads.map((u) => h("div", { class: `upload${u.error ? " failed" : ""}` },
      h("span", { class: "file-name", text: u.file.name }), h("span", { class: "muted", text: sizeText(u.file.size) }),
      u.media || u.error ? null : h("progress", { max: "1", value: String(u.progress), "aria-label": `Uploading ${u.file.name}` }),
      u.error ? h("span", { class: "state failed", text: "failed" }) : u.media ? h("span", { class: "state sent", text: "ready" }) : null,
      h("button", { type: "button", class: "icon-btn", "aria-label": `Remove ${u.file.name}`, onclick: () => app.dropUpload(u) }, "×"))));
    const picker = h("input", { type: "file", multiple: true, hidden: true, onchange: (e) => { app.attach(e.target.files); e.target.value = ""; } });
    this.showUploads = showUploads;
    if (app.hasMedia) {
      input.addEventListener("paste", (e) => { if (e.clipboardData.files.length) { e.preventDefault(); app.attach(e.clipboardData.files); } });
      this.root.ondragover = (e) => { e.preventDefault(); this.root.classList.add("dropping"); };
      this.root.ondragleave = () => this.root.classList.remove("dropping");
      this.root.ondrop = (e) => { e.preventDefault(); this.root.classList.remove("dropping"); app.attach(e.dataTransfer.files); };
      showUploads();
    }
    app.everyday.replyTo = app.everyday.editing = null;  // a new chat starts with a plain composer
    return h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); send(); } },
      bar, mentions, app.hasMedia ? strip : null, input,
      h("div", { class: "composer-bar" },
        app.hasMedia ? h("button", { type: "button", class: "btn ghost", "aria-label": "Attach files", onclick: () => picker.click() }, "Attach") : null,
        app.hasMedia ? picker : null,
        h("label", { class: "opt", for: "opt-receipt" }, receipt, "Read receipt"),
        app.employee ? h("label", { class: "opt", for: "opt-urgent" }, urgent, "Urgent") : null,
        h("button", { class: "btn primary", type: "submit" }, board ? "Post" : "Send")));
  }
}

const MEDIA_KINDS = new Set(["image", "voice", "video", "file"]);

function continues(prev, m) {
  return prev && prev.from === m.from && !prev.kind && !m.kind && m.time - prev.time < GROUP_MS;
}

function fillReceipt(el, known, notice = el.dataset.notice !== undefined) {
  if (!known) { el.textContent = "…"; return; }
  const n = Number(known.unreadCount);
  el.textContent = n === 0 ? (notice ? "All confirmed" : "All read") : `${n} ${notice ? "not confirmed" : "unread"}`;
  el.classList.toggle("all", n === 0);
  el.setAttribute("aria-label", n === 0 ? "Everyone has read it" : `${n} have not read it yet: show who`);
}

const URL_RE = /\bhttps?:\/\/[^\s<>"]+/g;

/** Text with its web addresses as links (built as nodes: no HTML is parsed). */
/** A card (revision 1.10, from an app): its title links to its url, which must be http(s):
 * anything else (javascript:, data:) is shown as plain text, never a link. */
export function cardElement(card) {
  const safe = /^https?:\/\//i.test(card.url);
  const link = (cls, text) => safe
    ? h("a", { class: cls, href: card.url, target: "_blank", rel: "noopener noreferrer", text })
    : h("span", { class: cls, text });
  return h("div", { class: "bubble card", role: "group", "aria-label": `Card: ${card.title}` },
    link("card-title", card.title),
    card.description ? h("p", { class: "card-description", text: card.description }) : null,
    link("card-button", card.button || "Open"));
}

export function linkify(text) {
  const out = [];
  let at = 0;
  for (const match of text.matchAll(URL_RE)) {
    out.push(text.slice(at, match.index));
    out.push(h("a", { href: match[0], target: "_blank", rel: "noopener noreferrer", text: match[0] }));
    at = match.index + match[0].length;
  }
  out.push(text.slice(at));
  return out;
}

/** What of a message's 1.5 state its element shows: a change re-renders it. */
function everydayKey(app, m) {
  if (!app.hasEveryday || m.kind === "system") return "";
  const row = app.convs.get(m.conv);
  return [m.version ?? 0, JSON.stringify(m.reactions || {}), (m.reacted || []).join(","),
    app.everyday.pinned(m.conv, m.seq) ? "p" : "", m.notice && row && row.read >= m.seq ? "c" : "",
    app.everyday.selecting?.conv === m.conv ? (app.everyday.selecting.seqs.has(m.seq) ? "S" : "s") : ""].join("/");
}
