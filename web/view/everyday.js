// The chat's everyday parts (revision 1.5, §31): quotes, mentions highlighted,
// the "edited" mark, reactions, forwarded-from lines, the group notice card, the
// message actions, the composer's reply / edit bar and @-completion, and the
// panels for pins, reactions and forwarding. DOM only; the model is model/everyday.js.

import { QUICK_EMOJI, mentionAt } from "../model/everyday.js";
import { avatar, clear, dialog, h, icon, time } from "./dom.js";

const MENTION_RE = /(^|[\s(])(@[\p{L}\p{N}._-]+)/gu;

/** Text with the mentions it carries marked (as nodes), links made by `linkify`. */
export function withMentions(app, m, text, linkify) {
  const named = new Set((m.mentions || []).map((x) => `@${x}`.toLowerCase()));
  if (!named.size) return linkify(text);
  const out = [];
  let at = 0;
  for (const match of text.matchAll(MENTION_RE)) {
    const token = match[2];
    const all = token.toLowerCase() === "@all" && named.has("@all");
    if (!named.has(token.toLowerCase()) && !all) continue;
    const start = match.index + match[1].length;
    out.push(...linkify(text.slice(at, start)));
    const handle = token.slice(1).toLowerCase();
    const me = handle === app.user || all;
    out.push(h("span", { class: `mention${me ? " me" : ""}`, title: all ? "Everyone" : app.people.display(handle) }, token));
    at = start + token.length;
  }
  out.push(...linkify(text.slice(at)));
  return out;
}

/** The replied-to message above a reply: its sender and snapshot; click jumps to it. */
export function quoteBlock(app, m) {
  const q = m.quote;
  if (!q) return null;
  const who = q.from === app.user ? "You" : app.people.display(q.from);
  const text = q.recalled ? "The original was recalled" : q.text ?? "A message from before you joined";
  return h("button", { type: "button", class: `quote${q.text === undefined ? " unseen" : ""}`, "data-quote": q.seq,
    "aria-label": `Reply to ${who}: ${text}. Show the original`,
    onclick: () => { if (!q.recalled) app.openAt(m.conv, q.seq); } },
  h("span", { class: "quote-who", text: who }), h("span", { class: "quote-text", text }));
}

export function forwardedLine(app, m) {
  const f = m.forwarded_from;
  if (!f) return null;
  const who = f.from === app.user ? "you" : f.display || app.people.display(f.from);
  return h("div", { class: "forwarded", text: `Forwarded from ${who}${f.time ? ` · ${time(f.time)}` : ""}` });
}

export function editedMark(m) {
  if (!m.version || m.recalled) return null;
  const at = m.edited_at ? new Date(Number(m.edited_at)) : null;
  return h("span", { class: "edited", title: at ? `Edited ${at.toLocaleString()}` : "Edited",
    "aria-label": at ? `edited at ${time(m.edited_at)}` : "edited" }, "edited");
}

/** Counts under a message; each chip toggles one's own reaction. */
export function reactionsRow(view, m) {
  const counts = Object.entries(m.reactions || {}).filter(([, n]) => Number(n) > 0);
  if (!counts.length || m.recalled) return null;
  const mine = new Set(m.reacted || []);
  const ed = view.app.everyday;
  return h("div", { class: "reactions", "aria-label": "Reactions" },
    counts.map(([emoji, n]) => h("button", { type: "button", class: `reaction${mine.has(emoji) ? " mine" : ""}`,
      "aria-pressed": mine.has(emoji) ? "true" : "false",
      "aria-label": `${emoji} ${n}${mine.has(emoji) ? ", yours: take it back" : ": add yours"}`,
      onclick: () => ed.react(m, emoji) }, h("span", { text: emoji }), h("span", { class: "n", text: String(n) }))),
    h("button", { type: "button", class: "link who-reacted", onclick: () => view.panels.reactions(m) }, "Who reacted"));
}

/** A group notice in the log: flagged, with "Confirm" for those who have not. */
export function noticeCard(view, m) {
  if (!m.notice || m.recalled) return null;
  const app = view.app;
  const row = app.convs.get(m.conv);
  const mine = m.from === app.user;
  const confirmed = !mine && row && row.read >= m.seq;
  return h("div", { class: "notice-flag" }, h("span", { class: "notice-label", text: "Group notice" }),
    mine ? null : confirmed ? h("span", { class: "state sent", text: "Confirmed" })
      : h("button", { type: "button", class: "btn primary small", onclick: () => app.everyday.confirm(m) }, "Confirm"));
}

/** What one can do with a person's message: reply, react, edit, forward, pin; each
 *  {label, run(anchor)}. Shown in one menu per message (one button in the page each,
 *  one tab stop, not six). */
export function everydayItems(view, m) {
  const app = view.app;
  const ed = app.everyday;
  const row = app.convs.get(m.conv);
  if (!app.hasEveryday || m.recalled || m.kind === "system" || !row || row.left) return [];
  const out = [];
  if (row.kind !== "announce") {
    out.push({ label: "Reply", run: () => ed.startReply(m) });
    out.push({ label: "React", run: (anchor) => picker(anchor, (emoji) => ed.react(m, emoji)) });
  }
  if (ed.canEdit(m)) out.push({ label: "Edit", run: () => ed.startEdit(m) });
  if (forwardable(m)) {
    out.push({ label: "Forward", run: () => view.panels.forward([m]) });
    out.push({ label: "Select to forward", run: () => ed.startSelect(m) });
  }
  if (ed.canPin(m.conv)) {
    const pinned = ed.pinned(m.conv, m.seq);
    out.push({ label: pinned ? "Unpin" : "Pin", run: () => ed.togglePin(m) });
  }
  return out;
}

export function forwardable(m) {
  return m.kind === undefined && !!m.text && !m.recalled;
}

/** The checkbox of a message while several are chosen to forward. */
export function selectBox(app, m) {
  const sel = app.everyday.selecting;
  if (!sel || sel.conv !== m.conv || !forwardable(m)) return null;
  return h("input", { type: "checkbox", class: "select-box", checked: sel.seqs.has(m.seq), "aria-label": "Choose this message",
    onchange: (e) => app.everyday.toggleSelect(m, e.target.checked) });
}

/** In place of the composer while choosing: how many, Forward, Cancel. */
export function selectBar(view) {
  const app = view.app;
  const sel = app.everyday.selecting;
  const chat = app.chat(sel.conv);
  const msgs = [...sel.seqs].sort((a, b) => a - b).map((seq) => chat.bySeq.get(seq)).filter(Boolean);
  return h("div", { class: "composer select-bar", role: "toolbar", "aria-label": "Forward several messages" },
    h("span", { class: "grow", text: `${msgs.length} selected` }),
    h("button", { type: "button", class: "btn", onclick: () => app.everyday.endSelect() }, "Cancel"),
    h("button", { type: "button", class: "btn primary", disabled: !msgs.length,
      onclick: () => view.panels.forward(msgs) }, `Forward ${msgs.length}`));
}

/** The "⋯" button of a message and its menu of `items` (arrow keys move, Escape closes). */
export function actionsButton(items) {
  const button = h("button", { type: "button", class: "link more-actions", "aria-label": "Actions for this message",
    "aria-haspopup": "menu", onclick: (e) => openMenu(e.currentTarget, items) }, "⋯");
  return h("span", { class: "msg-actions" }, button);
}

function openMenu(anchor, items) {
  const close = () => { pop.remove(); };
  const pop = popover(anchor, "message-menu", "Message actions", items.map((item) => h("button", {
    type: "button", role: "menuitem", onclick: () => { close(); item.run(anchor); } }, item.label)));
  pop.addEventListener("keydown", (e) => {
    const buttons = [...pop.querySelectorAll("button")];
    const at = buttons.indexOf(document.activeElement);
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      buttons[(at + (e.key === "ArrowDown" ? 1 : buttons.length - 1)) % buttons.length].focus();
    }
  });
}

/** A popover menu by `anchor`, in the page's body (a message paints only inside itself,
 *  content-visibility, which would cut it off); Escape or a click elsewhere closes it. */
function popover(anchor, kind, label, children) {
  document.querySelector(".popover")?.remove();
  const pop = h("div", { class: `popover ${kind}`, role: "menu", "aria-label": label }, children);
  const close = () => { pop.remove(); document.removeEventListener("click", away, true); };
  const away = (e) => { if (!pop.contains(e.target) && e.target !== anchor) close(); };
  pop.addEventListener("keydown", (e) => { if (e.key === "Escape") { close(); anchor.focus(); } });
  const at = anchor.getBoundingClientRect();
  pop.style.cssText = `top:${Math.max(8, at.top - 46)}px;left:${Math.max(8, Math.min(at.left, innerWidth - 300))}px`;
  document.body.append(pop);
  setTimeout(() => document.addEventListener("click", away, true), 0);
  pop.querySelector("button")?.focus();
  return pop;
}

/** A small emoji picker by `anchor`. */
function picker(anchor, choose) {
  const pop = popover(anchor, "emoji-picker", "Pick a reaction", QUICK_EMOJI.map((emoji) => h("button", {
    type: "button", role: "menuitem", "aria-label": `React with ${emoji}`,
    onclick: () => { pop.remove(); choose(emoji); anchor.focus(); } }, emoji)));
}

/** The bar above the composer: "Replying to …" or "Editing", with cancel. */
export function composeBar(app) {
  const ed = app.everyday;
  const m = ed.replyTo || ed.editing;
  if (!m) return [];
  const who = m.from === app.user ? "yourself" : app.people.display(m.from, m);
  const label = ed.editing ? "Editing your message" : `Replying to ${who}`;
  return [h("div", { class: "compose-bar", role: "status" },
    h("div", { class: "grow" }, h("div", { class: "compose-label", text: label }),
      h("div", { class: "compose-text", text: (m.text || "").slice(0, 140) })),
    h("button", { type: "button", class: "icon-btn", "aria-label": ed.editing ? "Cancel editing" : "Cancel reply",
      onclick: () => ed.cancelCompose() }, "×"))];
}

/** @-completion in the composer: members whose handle or name starts with what follows "@". */
export function mentionCompletion(app, input, conv) {
  const list = h("ul", { class: "mention-list", id: "mention-list", role: "listbox", "aria-label": "Mention someone", hidden: true });
  let choices = [];
  let active = 0;
  const at = () => mentionAt(input.value, input.selectionStart);
  const pick = (handle) => {
    const found = at();
    if (!found) return;
    const before = input.value.slice(0, found.start);
    const after = input.value.slice(input.selectionStart);
    input.value = `${before}@${handle} ${after}`;
    const caret = before.length + handle.length + 2;
    input.setSelectionRange(caret, caret);
    list.hidden = true;
    input.focus();
  };
  const show = () => {
    const found = at();
    const ed = app.everyday;
    const all = ed.mayMentionAll(conv) ? ["all"] : [];
    choices = found ? [...all, ...ed.mentionable(conv)].filter((u) => u.startsWith(found.prefix)
      || (u !== "all" && app.people.display(u).toLowerCase().startsWith(found.prefix))).slice(0, 8) : [];
    active = Math.min(active, Math.max(0, choices.length - 1));
    list.hidden = !choices.length;
    input.setAttribute("aria-expanded", choices.length ? "true" : "false");
    if (choices.length) input.setAttribute("aria-activedescendant", `mention-${active}`);
    else input.removeAttribute("aria-activedescendant");
    clear(list, choices.map((u, i) => h("li", { role: "option", id: `mention-${i}`, class: i === active ? "active" : "", "aria-selected": i === active ? "true" : "false",
      onmousedown: (e) => { e.preventDefault(); pick(u); } },
    u === "all" ? h("span", { class: "avatar small all", "aria-hidden": "true" }, "@") : avatar(u, app.people.display(u), "small"),
    h("span", { text: u === "all" ? "Everyone" : app.people.display(u) }), h("span", { class: "muted", text: `@${u}` }))));
  };
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", "mention-list");
  input.addEventListener("input", () => { active = 0; show(); });
  input.addEventListener("keydown", (e) => {
    if (list.hidden) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : choices.length - 1)) % choices.length;
      show();
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      e.stopImmediatePropagation();
      pick(choices[active]);
    } else if (e.key === "Escape") {
      list.hidden = true;
    }
  });
  input.addEventListener("blur", () => setTimeout(() => { list.hidden = true; }, 150));
  return list;
}

/** The header's buttons: the pinned list and mute. */
export function headerActions(view, row) {
  const app = view.app;
  if (!app.hasEveryday || !row || row.left || row.kind === "announce") return [];
  const ed = app.everyday;
  const muted = ed.muted(row);
  const count = ed.pins.get(row.conv)?.pins.length || 0;
  return [
    h("button", { class: "btn ghost", type: "button", "aria-label": `Pinned messages${count ? `: ${count}` : ""}`,
      onclick: () => view.panels.pins(row.conv) }, icon("pin"), h("span", { class: count ? "" : "btn-label", text: count ? String(count) : "Pins" })),
    h("button", { class: `btn ghost${muted ? " on" : ""}`, type: "button", "aria-pressed": muted ? "true" : "false",
      title: muted && Number(row.mutedUntil) > 0 ? `Muted until ${time(row.mutedUntil)}` : null,
      "aria-label": muted ? "Unmute this conversation" : "Mute this conversation",
      onclick: (e) => (muted ? ed.setMute(row.conv, 0) : muteMenu(e.currentTarget, ed, row.conv)) }, icon("bell-off"), h("span", { class: "btn-label", text: muted ? "Muted" : "Mute" })),
  ];
}

/** How long to mute: an hour, eight hours, or until unmuted (`conv.mute`'s `until`). */
function muteMenu(anchor, ed, conv) {
  const choices = [["For 1 hour", 60], ["For 8 hours", 480], ["Until I unmute", -1]];
  const pop = popover(anchor, "message-menu", "Mute for", choices.map(([label, minutes]) => h("button", {
    type: "button", role: "menuitem", onclick: () => { pop.remove(); ed.setMute(conv, minutes); } }, label)));
  pop.style.top = `${anchor.getBoundingClientRect().bottom + 4}px`;
}

/** The group's current notice under the header, until the person confirms it. */
export function noticeBanner(view, row) {
  if (!row?.notice || row.kind !== "group") return null;
  const app = view.app;
  const m = app.everyday.notice(row.conv);
  if (!m || m.recalled) return null;
  const pending = m.from !== app.user && row.read < m.seq;
  return h("div", { class: `notice-banner${pending ? " pending" : ""}` },
    h("span", { class: "notice-label", text: "Group notice" }),
    h("button", { type: "button", class: "link notice-text", onclick: () => app.openAt(row.conv, m.seq) }, m.text),
    pending ? h("button", { type: "button", class: "btn primary small", onclick: () => app.everyday.confirm(m) }, "Confirm") : null);
}

// ----- panels (the drawer) and dialogs -----

export async function pinsPanel(panels, conv) {
  const app = panels.app;
  const ed = app.everyday;
  const pins = (await ed.loadPins(conv))?.pins || [];
  const msgs = await Promise.all(pins.map((p) => ed.message(conv, p.seq)));
  const items = pins.map((p, i) => {
    const m = msgs[i];
    return h("li", {}, avatar(m?.from || p.by, app.people.display(m?.from || p.by)),
      h("div", { class: "grow" },
        h("button", { type: "button", class: "link pin-text", onclick: () => { panels.close(); app.openAt(conv, p.seq); } },
          m ? (m.recalled ? "A recalled message" : m.text || "(files)") : `Message ${p.seq}`),
        h("div", { class: "muted", text: `${m ? `${app.people.display(m.from, m)} · ` : ""}pinned by ${app.people.display(p.by)} · ${time(p.time)}` })),
      ed.canPin(conv) ? h("button", { type: "button", class: "link danger", "aria-label": "Unpin",
        onclick: async () => { await ed.togglePin({ conv, seq: p.seq }); pinsPanel(panels, conv); } }, "Unpin") : null);
  });
  panels.showing = null;
  panels.open("Pinned messages", items.length ? h("ul", { class: "member-list pins" }, items)
    : h("p", { class: "muted", text: "Nothing is pinned yet. Pin a message with its Pin button." }));
}

export async function reactionsPanel(panels, m) {
  const app = panels.app;
  const lists = await app.everyday.whoReacted(m);
  panels.showing = null;
  panels.open("Reactions", ...lists.flatMap((r) => [h("h3", { text: `${r.emoji} · ${r.count}` }),
    h("ul", { class: "member-list" }, r.users.map((u) => h("li", {}, avatar(u, app.people.display(u)),
      h("div", { class: "grow", text: u === app.user ? "You" : app.people.display(u) })))),
    r.more ? h("p", { class: "muted", text: `and ${r.count - r.users.length} more` }) : null]));
}

export function forwardDialog(app, msgs) {
  const picked = new Set();
  const first = msgs[0];
  const rows = app.everyday.targets().map((r) => {
    const name = r.kind === "direct" && r.peer ? (r.peer === app.user ? "Notes to self" : app.people.display(r.peer)) : r.name;
    return h("label", { class: "pick-row" }, h("input", { type: "checkbox",
      onchange: (e) => (e.target.checked ? picked.add(r.conv) : picked.delete(r.conv)) }), name || `Conversation ${r.conv}`);
  });
  dialog("Forward to", h("div", { class: "stack" },
    h("blockquote", { class: "forward-preview", text: msgs.length === 1 ? (first.text || "").slice(0, 200)
      : `${msgs.length} messages, from “${(first.text || "").slice(0, 60)}”` }),
    h("div", { class: "pick-list", role: "group", "aria-label": "Conversations" }, rows)), [
    h("button", { class: "btn", value: "cancel" }, "Cancel"),
    h("button", { class: "btn primary", value: "ok", onclick: () => {
      if (picked.size) app.everyday.forward(first.conv, msgs.map((x) => x.seq), [...picked]);
      app.everyday.endSelect();
    } }, "Forward")]);
}

/** The notice section of a group's panel: the notice, who confirmed, a new one (owner and admins). */
export function noticeSection(panels, conv, manage) {
  const app = panels.app;
  const row = app.convs.get(conv);
  const text = h("textarea", { rows: "3", maxlength: "4000", "aria-label": "New group notice", placeholder: "Everyone in the group gets it and confirms it" });
  return h("section", { class: "stack", "aria-label": "Group notice" }, h("h3", { text: "Group notice" }),
    row?.notice ? h("div", { class: "notice-current" },
      h("button", { type: "button", class: "link", onclick: () => { panels.close(); app.openAt(conv, row.notice); } }, "Show the current notice"),
      manage ? h("button", { type: "button", class: "link", onclick: () => panels.receipts(conv, row.notice) }, "Who has confirmed") : null)
      : h("p", { class: "muted", text: "No notice yet." }),
    manage ? h("form", { class: "stack", onsubmit: async (e) => {
      e.preventDefault();
      if (text.value.trim() && await app.everyday.postNotice(conv, text.value.trim())) text.value = "";
    } }, text, h("button", { class: "btn", type: "submit" }, "Post notice")) : null);
}
