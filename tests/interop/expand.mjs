// Reads an iCalendar object on stdin with ical.js (Mozilla's parser: Thunderbird and many
// web calendars) and prints what a calendar client would show, as JSON lines:
//   {"kind":"calendar", "method", "organizers":[...], "attendees":[...]}
//   {"kind":"occurrence", "recurrenceId", "recurrenceIdLocal", "start", "end", "startLocal",
//    "zone", "summary", "status", "location", "description"}   one per occurrence
// Only the VTIMEZONEs in the file are known (none built in), so a wrong VTIMEZONE shows.
import ICAL from "ical.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const text = Buffer.concat(chunks).toString("utf8");

const root = new ICAL.Component(ICAL.parse(text));
for (const vtz of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(new ICAL.Timezone(vtz));
}

const people = (name) =>
  root.getAllSubcomponents("vevent").flatMap((ev) =>
    ev.getAllProperties(name).map((p) => ({ value: p.getFirstValue(), cn: p.getParameter("cn") ?? null,
      partstat: p.getParameter("partstat") ?? null, rsvp: p.getParameter("rsvp") ?? null })),
  );

const print = (o) => process.stdout.write(JSON.stringify(o) + "\n");
print({
  kind: "calendar",
  method: root.getFirstPropertyValue("method"),
  organizers: people("organizer"),
  attendees: people("attendee"),
});

const utc = (t) => (t ? t.toJSDate().toISOString() : null);
const local = (t) => (t ? t.toString() : null);
const describe = (recurrenceId, item, start, end) =>
  print({
    kind: "occurrence",
    recurrenceId: utc(recurrenceId),
    recurrenceIdLocal: local(recurrenceId),
    start: utc(start),
    end: utc(end),
    startLocal: local(start),
    zone: start.zone ? start.zone.tzid : null,
    summary: item.summary,
    status: item.component.getFirstPropertyValue("status"),
    location: item.location,
    description: item.description,
  });

const events = root.getAllSubcomponents("vevent").map((c) => new ICAL.Event(c));
const masters = events.filter((e) => !e.isRecurrenceException());
const exceptions = events.filter((e) => e.isRecurrenceException());
for (const master of masters) {
  for (const ex of exceptions) if (ex.uid === master.uid) master.relateException(ex);
  if (!master.isRecurring()) {
    describe(null, master, master.startDate, master.endDate);
    continue;
  }
  const it = master.iterator();
  for (let next = it.next(), n = 0; next && n < 10000; next = it.next(), n++) {
    const d = master.getOccurrenceDetails(next);
    describe(d.recurrenceId, d.item, d.startDate, d.endDate);
  }
}
// Exceptions without a master in the file (a CANCEL of one instance) are shown as they are.
for (const ex of exceptions) {
  if (!masters.some((m) => m.uid === ex.uid)) describe(ex.recurrenceId, ex, ex.startDate, ex.endDate);
}
