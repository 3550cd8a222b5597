// The "Me" section: status (take a break / resume), the quiet-hours schedule
// editor (weekdays, times, time zone), desktop notifications, signing out.

import { DAYS, describeQuiet, formFromQuiet, isResting, quietFromForm, scheduleText } from "../model/quiet.js";
import { avatar, clear, h } from "./dom.js";

function zones() {
  let names = [];
  try {
    names = Intl.supportedValuesOf("timeZone");
  } catch {
    // an older browser: the user's own zone and UTC
  }
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return [...new Set(["UTC", own, ...names].filter(Boolean))];
}

export class SettingsView {
  constructor(app, root, notifier) {
    Object.assign(this, { app, root, notifier });
    app.on("quiet", () => { if (document.body.dataset.section === "me") this.render(); });
  }

  render() {
    const app = this.app;
    const q = app.quiet;
    const resting = isResting(q, Date.now());
    clear(this.root, h("div", { class: "page" },
      h("h1", { text: "Me" }),
      h("section", { class: "card me" }, avatar(app.user || "?", app.people.display(app.user || "")),
        h("div", { class: "grow" }, h("div", { class: "person-name", text: app.people.display(app.user || "") }),
          h("div", { class: "muted", text: `@${app.user}` })),
        h("span", { class: resting ? "resting-mark" : "available-mark", "data-testid": "my-status", text: describeQuiet(q) })),
      this.breakCard(q, resting),
      this.scheduleCard(q),
      this.notificationsCard(),
      app.canSignIn ? this.devicesCard() : null,
      app.canSignIn ? this.passwordCard() : null,
      h("section", { class: "card" }, h("h2", { text: "Session" }),
        h("p", { class: "muted", text: `Connection: ${app.state}` }),
        h("button", { type: "button", class: "btn danger", onclick: () => app.signOut() }, "Sign out"))));
  }

  breakCard(q, resting) {
    const app = this.app;
    return h("section", { class: "card", "aria-label": "Take a break" },
      h("h2", { text: "Take a break" }),
      h("p", { class: "muted", text: "Messages still arrive, silently; people see that you are resting. Urgent messages get through." }),
      h("div", { class: "button-row" },
        [30, 60, 120].map((m) => h("button", { type: "button", class: "btn", onclick: () => app.takeBreak(m) },
          m < 60 ? `${m} minutes` : `${m / 60} hour${m > 60 ? "s" : ""}`)),
        q?.break_until !== undefined || resting
          ? h("button", { type: "button", class: "btn primary", onclick: () => app.resume() }, "Resume now") : null));
  }

  scheduleCard(q) {
    const app = this.app;
    const form = formFromQuiet(q);
    const days = DAYS.map((d, i) => h("label", { class: "day-toggle" },
      h("input", { type: "checkbox", checked: form.days.has(i), onchange: (e) => {
        if (e.target.checked) form.days.add(i); else form.days.delete(i);
      } }), h("span", { text: d })));
    const start = h("input", { type: "time", value: form.start, "aria-label": "Quiet from", required: true });
    const end = h("input", { type: "time", value: form.end, "aria-label": "Quiet until", required: true });
    const zone = h("select", { "aria-label": "Time zone" }, zones().map((z) => h("option", { value: z, selected: z === form.timezone ? "" : null }, z)));
    const enabled = h("input", { type: "checkbox", checked: form.enabled });
    const save = (e) => {
      e.preventDefault();
      app.setQuiet(quietFromForm({ ...form, start: start.value, end: end.value, timezone: zone.value, enabled: enabled.checked }));
    };
    return h("section", { class: "card", "aria-label": "Quiet hours" },
      h("h2", { text: "Quiet hours" }),
      h("p", { class: "muted", text: `Now: ${scheduleText(q)}` }),
      h("form", { class: "stack", onsubmit: save },
        h("fieldset", { class: "days" }, h("legend", { text: "Days" }), days),
        h("div", { class: "inline" }, h("label", { class: "field" }, "From", start), h("label", { class: "field" }, "Until", end),
          h("label", { class: "field grow" }, "Time zone", zone)),
        h("label", { class: "opt" }, enabled, "Enabled"),
        h("div", { class: "button-row" },
          h("button", { class: "btn primary", type: "submit" }, "Save schedule"),
          app.employee ? h("button", { class: "btn", type: "button", onclick: () => app.setQuiet({ inherit: true }) },
            "Use company default") : null)));
  }

  devicesCard() {
    const app = this.app;
    const list = h("ul", { class: "people", "aria-label": "Signed-in devices" }, h("li", { class: "muted", text: "Loading…" }));
    app.devices().then((devices) => clear(list, devices.map((d) => h("li", { class: "person" },
      h("div", { class: "grow" },
        h("div", { class: "person-name" }, d.device || "Unnamed device", d.current ? h("span", { class: "badge", text: "This device" }) : null),
        h("div", { class: "muted", text: [d.last_seen ? `Last active ${new Date(Number(d.last_seen)).toLocaleString()}` : "Never used",
          d.address].filter(Boolean).join(" · ") })),
      h("button", { type: "button", class: "btn danger", "aria-label": `Sign out ${d.device || "device"}`,
        onclick: async () => { await app.revoke(d); this.render(); } }, "Sign out")))));
    return h("section", { class: "card", "aria-label": "Devices" }, h("h2", { text: "Devices" }), list);
  }

  passwordCard() {
    const app = this.app;
    const old = h("input", { type: "password", autocomplete: "current-password", "aria-label": "Current password" });
    const fresh = h("input", { type: "password", autocomplete: "new-password", minlength: "10", required: true, "aria-label": "New password" });
    return h("section", { class: "card", "aria-label": "Password" }, h("h2", { text: "Password" }),
      h("form", { class: "stack", onsubmit: async (e) => {
        e.preventDefault();
        if (await app.changePassword(old.value, fresh.value)) { old.value = fresh.value = ""; this.render(); }
      } },
      h("label", { class: "field" }, "Current password", old), h("label", { class: "field" }, "New password", fresh),
      h("p", { class: "muted", text: "Changing it signs out your other devices." }),
      h("button", { class: "btn", type: "submit" }, "Change password")));
  }

  notificationsCard() {
    const state = this.notifier.permission();
    return h("section", { class: "card" }, h("h2", { text: "Desktop notifications" }),
      h("p", { class: "muted", text: state === "granted" ? "On: you are notified of new messages while this tab is hidden, except while you rest."
        : state === "denied" ? "Blocked in the browser's site settings." : "Off." }),
      state === "default" ? h("button", { type: "button", class: "btn", onclick: async () => {
        await this.notifier.ask(); this.render(); } }, "Turn on") : null);
  }
}
