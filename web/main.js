// The page: wires the view model to the views, the sign-in screen, the
// section rail, the connection banner, toasts and desktop notifications.

import { openStore } from "./proto/store.js";
import { AppModel } from "./model/app.js";
import { isResting } from "./model/quiet.js";
import { ChatView } from "./view/chat.js";
import { ContactsView } from "./view/contacts.js";
import { CustomersView } from "./view/customers.js";
import { clear, h, icon } from "./view/dom.js";
import { ConversationListView } from "./view/list.js";
import { Panels } from "./view/panels.js";
import { SettingsView } from "./view/settings.js";

const $ = (id) => document.getElementById(id);

class Notifier {
  constructor() { this.app = null; }
  permission() { return "Notification" in window ? Notification.permission : "denied"; }
  async ask() { if ("Notification" in window) await Notification.requestPermission(); }
  notify({ title, body, conv, tag }) {
    if (!document.hidden || this.permission() !== "granted") return;
    if (isResting(this.app.quiet, Date.now())) return;
    const n = new Notification(title, { body, tag });
    n.onclick = () => { window.focus(); this.app.open(conv); n.close(); };
  }
}

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/`;
}

/** `#token=…` signs in (and leaves the address bar, so it is not bookmarked or shared). */
function tokenFromHash() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return decodeURIComponent(m[1]);
}

/** `#invite=…` opens the "choose a password" form (revision 1.3, §29.1). */
function inviteFromHash() {
  const m = /(?:^#|&)invite=([^&]+)/.exec(location.hash);
  if (!m) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return decodeURIComponent(m[1]);
}

function card(...children) {
  return h("div", { class: "signin-card" },
    h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), "corpchat"), children);
}

function failure(el, e) {
  el.textContent = e.code === "auth_failed" ? "Wrong handle or password."
    : e.code === "rate_limited" ? "Too many attempts. Wait a little and try again."
      : e.code === "bad_request" ? e.message : `Could not sign in (${e.code || e.message}).`;
}

function tokenForm(app, withPassword) {
  const token = h("input", { type: "password", id: "token", autocomplete: "off", required: true, placeholder: "cc_…" });
  return h("form", { class: "stack", onsubmit: (e) => { e.preventDefault(); app.signIn(token.value.trim()); } },
    h("label", { class: "field", for: "token" }, "Access token", token),
    h("p", { class: "muted", text: "Paste the token your administrator gave you, or open the sign-in link they sent." }),
    h("button", { class: "btn primary wide", type: "submit" }, "Sign in"),
    withPassword ? h("button", { class: "link", type: "button", onclick: () => signInScreen(app) }, "Sign in with a password") : null);
}

function passwordForm(app) {
  const handle = h("input", { type: "text", id: "handle", autocomplete: "username", required: true, autocapitalize: "none" });
  const password = h("input", { type: "password", id: "password", autocomplete: "current-password", required: true, minlength: "10" });
  const error = h("p", { class: "form-error", role: "alert" });
  return h("form", { class: "stack", onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      await app.signInWith({ type: "login", handle: handle.value.trim().toLowerCase(), password: password.value });
    } catch (err) { failure(error, err); }
  } },
  h("label", { class: "field", for: "handle" }, "Handle", handle),
  h("label", { class: "field", for: "password" }, "Password", password), error,
  h("button", { class: "btn primary wide", type: "submit" }, "Sign in"),
  h("button", { class: "link", type: "button", onclick: () => clear($("signin"), card(h("h1", { text: "Sign in" }), tokenForm(app, true))) },
    "Use an access token instead"));
}

function inviteForm(app, invite) {
  const password = h("input", { type: "password", id: "new-password", autocomplete: "new-password", required: true, minlength: "10" });
  const again = h("input", { type: "password", id: "new-password-2", autocomplete: "new-password", required: true });
  const error = h("p", { class: "form-error", role: "alert" });
  return h("form", { class: "stack", onsubmit: async (e) => {
    e.preventDefault();
    if (password.value !== again.value) { error.textContent = "The two passwords differ."; return; }
    try {
      await app.signInWith({ type: "redeem", invite, password: password.value });
    } catch (err) {
      if (err.code === "auth_failed") error.textContent = "This invite link has expired or was used already. Ask for a new one.";
      else failure(error, err);
    }
  } },
  h("p", { class: "muted", text: "Welcome! Choose a password: at least 10 characters, not a common one. You will sign in with it on any device." }),
  h("label", { class: "field", for: "new-password" }, "Password", password),
  h("label", { class: "field", for: "new-password-2" }, "Password again", again), error,
  h("button", { class: "btn primary wide", type: "submit" }, "Set password and sign in"));
}

function signInScreen(app, invite = null) {
  if (invite && app.canSignIn) {
    clear($("signin"), card(h("h1", { text: "Join corpchat" }), inviteForm(app, invite)));
  } else if (app.canSignIn) {
    clear($("signin"), card(h("h1", { text: "Sign in" }), passwordForm(app)));
  } else {
    clear($("signin"), card(h("h1", { text: "Sign in" }), tokenForm(app, false)));
  }
  $("signin").querySelector("input")?.focus();
}

function toasts(app) {
  app.on("toast", ({ text, kind }) => {
    const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
    $("toasts").append(el);
    while ($("toasts").children.length > 3) $("toasts").firstElementChild.remove();
    setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
  });
}

let pendingInvite = null;

const STATE_TEXT = { connecting: "Connecting…", syncing: "Catching up…", offline: "Offline — reconnecting…",
  stopped: "Disconnected." };

const RAIL_ICONS = { chats: "chat", contacts: "people", notices: "megaphone", customers: "star", me: "moon" };

function sections(app, views) {
  const buttons = [...document.querySelectorAll(".rail [data-section]")];
  for (const b of buttons) b.querySelector(".rail-icon").append(icon(RAIL_ICONS[b.dataset.section]));
  const show = (name) => {
    views.panels.close();
    for (const b of buttons) b.setAttribute("aria-current", b.dataset.section === name ? "page" : "false");
    document.body.dataset.section = name;
    $("page").hidden = name === "chats";
    $("chat").hidden = name !== "chats";
    if (name === "notices" && app.welcome?.announce_conv !== undefined) {
      $("page").hidden = true;
      $("chat").hidden = false;
      app.open(app.welcome.announce_conv);
      document.body.classList.add("chat-open");
    }
    if (name === "contacts") views.contacts.render();
    if (name === "me") views.settings.render();
    if (name === "customers") views.customers.show();
    if (name !== "chats" && name !== "notices") document.body.classList.add("chat-open");
  };
  for (const b of buttons) b.addEventListener("click", () => show(b.dataset.section));
  app.on("section", show);
  app.on("open", (open) => {  // a conversation opened from anywhere shows the chat pane
    const board = open.conv !== undefined && open.conv === app.welcome?.announce_conv;
    const want = board ? "notices" : "chats";
    if (document.body.dataset.section === want) return;
    for (const b of buttons) b.setAttribute("aria-current", b.dataset.section === want ? "page" : "false");
    document.body.dataset.section = want;
    $("page").hidden = true;
    $("chat").hidden = false;
  });
  return show;
}

async function main() {
  const store = await openStore();
  const notifier = new Notifier();
  const app = new AppModel({ store, url: wsUrl(), origin: location.origin, notifier });
  notifier.app = app;
  window.corpchat = app;  // for the console and the browser tests
  const panels = new Panels(app, $("drawer"));
  const views = {
    panels,
    list: new ConversationListView(app, $("sidebar"), panels),
    chat: new ChatView(app, $("chat"), panels),
    contacts: new ContactsView(app, $("page")),
    settings: new SettingsView(app, $("page"), notifier),
    customers: new CustomersView(app, $("page")),
  };
  const show = sections(app, views);
  toasts(app);
  app.on("state", (s) => {
    document.body.dataset.state = s;
    $("signin").hidden = s !== "signed_out";
    $("app").hidden = s === "signed_out";
    $("connbar").textContent = STATE_TEXT[s] || "";
    $("connbar").hidden = !STATE_TEXT[s] || (s === "syncing" && app.caughtUpOnce);
    if (s === "signed_out") signInScreen(app, pendingInvite);
  });
  app.on("convs", () => {
    const n = app.convs.totalUnread();
    $("rail-unread").textContent = n ? (n > 99 ? "99+" : String(n)) : "";
  });
  app.on("state", () => {
    document.body.classList.toggle("employee", app.employee);
    $("customers-label").textContent = app.employee ? "Customers" : "Moments";
  });
  // The browser knows first when the network goes: drop the socket rather than wait for
  // TCP to notice, and reconnect as soon as it is back.
  window.addEventListener("offline", () => app.client?.drop());
  window.addEventListener("online", () => app.client?.retryNow());
  document.addEventListener("visibilitychange", () => app.markSeen());
  show("chats");
  // A link opened in a tab that already shows the page changes only the fragment.
  window.addEventListener("hashchange", () => {
    const invite = inviteFromHash();
    const fresh = tokenFromHash();
    if (fresh) app.signIn(fresh);
    else if (invite && app.state !== "signed_out") app.toast("Sign out first to use an invite link.");
    else if (invite) { pendingInvite = invite; signInScreen(app, invite); }
  });
  pendingInvite = inviteFromHash();
  const token = tokenFromHash();
  if (token) await app.signIn(token);
  else if (pendingInvite && app.canSignIn) app.setState("signed_out");  // the invite first
  else await app.start();
}

main();
