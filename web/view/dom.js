// A small DOM helper: elements from tag, attributes and children. Text is
// always set as text (never parsed as HTML), so nothing a user typed runs.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "style") el.style.cssText = v;  // CSSOM: allowed by the CSP, a style attribute is not
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const PALETTE = ["#4f6bed", "#0b8a6f", "#c2410c", "#7c3aed", "#be185d", "#0e7490", "#4d7c0f",
  "#b45309"];

/** A round avatar with initials, coloured by the handle. */
export function avatar(handle, name, size = "") {
  let hash = 0;
  for (const ch of handle) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  const words = (name || handle).replace(/@.*/, "").trim().split(/[\s._-]+/).filter(Boolean);
  const initials = (words.length > 1 ? words[0][0] + words[1][0] : (words[0] || "?").slice(0, 2));
  return h("span", { class: `avatar ${size}`, "aria-hidden": "true",
    style: `background:${PALETTE[hash % PALETTE.length]}` }, initials.toUpperCase());
}

export function time(ms) {
  const d = new Date(Number(ms));
  const now = new Date();
  if (d.toDateString() === now.toDateString()) {
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  return d.toLocaleDateString([], { month: "short", day: "numeric" });
}

export function dayLabel(ms) {
  const d = new Date(Number(ms));
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return "Today";
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (d.toDateString() === y.toDateString()) return "Yesterday";
  return d.toLocaleDateString([], { weekday: "long", month: "long", day: "numeric" });
}

/** A modal dialog (native <dialog>: focus trap, Escape closes). */
export function dialog(title, body, actions) {
  const dlg = h("dialog", { class: "modal", "aria-label": title },
    h("form", { method: "dialog", class: "modal-body" },
      h("h2", { text: title }), body,
      h("div", { class: "modal-actions" }, actions)));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

// Icons as inline SVG (no emoji: not every system has a colour emoji font).
const ICONS = {
  chat: "M4 5h16a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H9l-5 4v-4H4a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1z",
  people: "M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zm-6 9c0-3.3 2.7-6 6-6s6 2.7 6 6M16 4.5a3.5 3.5 0 0 1 0 6.5M18 14.5c1.8.9 3 2.9 3 5.5",
  megaphone: "M3 10v4h3l8 5V5L6 10H3zm14-1.5a4 4 0 0 1 0 7",
  star: "M12 3l2.7 5.6 6.1.9-4.4 4.3 1 6.1L12 17l-5.4 2.9 1-6.1L3.2 9.5l6.1-.9z",
  moon: "M20 14.5A8 8 0 0 1 9.5 4a8 8 0 1 0 10.5 10.5z",
  plus: "M12 5v14M5 12h14",
  pencil: "M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4",
  "bell-off": "M6 17V11a6 6 0 0 1 9.5-4.9M18 11v6h2M4 17h12M10 20h4M3 3l18 18",
  pin: "M9 3h6l-1 6 4 4H6l4-4zM12 13v8",
};

export function icon(name, label = null) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon icon-${name}`);
  if (label) svg.setAttribute("aria-label", label);
  else svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}
