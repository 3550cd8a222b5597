// Quiet hours as the views show them (docs/protocol.md §21): whether the user
// rests, in words, and the schedule editor's form ↔ `quiet.set` fields.

export const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

export function isResting(quiet, now) {
  return !!quiet && quiet.resting_until !== undefined && Number(quiet.resting_until) > now;
}

export function clock(ms) {
  return new Date(Number(ms)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** "Resting until 18:00", "Available", with the day when the end is not today. */
export function restingText(until) {
  const end = new Date(Number(until));
  const today = new Date().toDateString() === end.toDateString();
  const when = today ? clock(until)
    : end.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
  return `Resting until ${when}`;
}

export function describeQuiet(quiet) {
  if (!quiet) return "Available";
  if (isResting(quiet, Date.now())) return restingText(quiet.resting_until);
  return "Available";
}

/** The editor's state from a `quiet` map: the days ticked, one start and end for all. */
export function formFromQuiet(quiet) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const form = { timezone: zone, days: new Set([0, 1, 2, 3, 4]), start: "22:00", end: "08:00",
    enabled: true, source: quiet?.source || "none" };
  if (quiet && quiet.source !== "none") {
    form.timezone = quiet.timezone || form.timezone;
    form.enabled = quiet.enabled !== false;
    if (quiet.windows?.length) {
      form.days = new Set(quiet.windows.map((w) => Number(w.day)));
      form.start = quiet.windows[0].start;
      form.end = quiet.windows[0].end;
    }
  }
  return form;
}

/** The `quiet.set` fields of the editor's state: one window per day ticked. */
export function quietFromForm(form) {
  const windows = [...form.days].sort().map((day) => ({ day, start: form.start, end: form.end }));
  return { timezone: form.timezone, windows, enabled: form.enabled };
}

export function scheduleText(quiet) {
  if (!quiet || quiet.source === "none") return "No quiet hours";
  if (quiet.enabled === false) return "Quiet hours off";
  const w = quiet.windows || [];
  if (!w.length) return "No quiet windows";
  const days = w.map((x) => DAYS[x.day]).join(", ");
  const whose = quiet.source === "corp" ? " (company default)" : "";
  return `${days} ${w[0].start}–${w[0].end} ${quiet.timezone}${whose}`;
}
