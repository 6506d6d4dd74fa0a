// A well-defined subset of systemd's calendar events (systemd.time(7), "CALENDAR EVENTS"), the grammar of the
// backup timer's OnCalendar=. A schedule systemd cannot parse makes the timer fail on every host, long after
// `pulumi up` succeeded, so the plan decides offline: everything accepted here, systemd-analyze calendar accepts
// (test/calendar.test.ts compares the two on this machine's systemd). Left out, though systemd takes them:
// `~` (last days of a month), fractional seconds, time zones other than UTC, and `*/N`.
//
//   schedule   = shorthand [" UTC"] | [weekdays " "] [date " "] time [" UTC"] | [weekdays " "] date [" UTC"] | weekdays
//   shorthand  = minutely | hourly | daily | weekly | monthly | quarterly | semiannually | yearly | annually
//   weekdays   = day [(".." | "-") day] ("," ...)*        Mon..Sun or Monday..Sunday, in week order
//   date       = [year "-"] month "-" day                each a component list
//   time       = hour ":" minute [":" second]            each a component list
//   component  = "*" | n | n ".." m | n "/" step         (n <= m, step >= 1), joined by ","

const shorthands = [
    "minutely",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "semiannually",
    "yearly",
    "annually",
];
const dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const fullDayNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

function dayIndex(name: string): number {
    const lower = name.toLowerCase();
    const short = dayNames.indexOf(lower);
    return short >= 0 ? short : fullDayNames.indexOf(lower);
}

function isWeekdays(text: string): boolean {
    return text.split(",").every((item) => {
        const [from, to, ...rest] = item.split(/\.\.|-/);
        if (rest.length > 0 || dayIndex(from) < 0) return false;
        return to === undefined || dayIndex(to) >= dayIndex(from);
    });
}

/** A comma list of `*`, `n`, `n..m` or `n/step`, every number within [min, max]. */
function isComponent(text: string, min: number, max: number, allowStar = true): boolean {
    const number = (value: string) => /^\d{1,4}$/.test(value) && Number(value) >= min && Number(value) <= max;
    return text.split(",").every((item) => {
        if (item === "*") return allowStar;
        let match = /^(\d+)\.\.(\d+)$/.exec(item);
        if (match) return number(match[1]) && number(match[2]) && Number(match[1]) <= Number(match[2]);
        match = /^(\d+)\/(\d+)$/.exec(item);
        if (match) return number(match[1]) && Number(match[2]) >= 1 && Number(match[2]) <= max;
        return number(item);
    });
}

function isDate(text: string): boolean {
    const parts = text.split("-");
    if (parts.length === 2) return isComponent(parts[0], 1, 12) && isComponent(parts[1], 1, 31);
    if (parts.length !== 3) return false;
    const year = parts[0] === "*" || (/^\d{4}(\.\.\d{4})?$/.test(parts[0]) && isComponent(parts[0], 1970, 2199));
    return year && isComponent(parts[1], 1, 12) && isComponent(parts[2], 1, 31);
}

function isTime(text: string): boolean {
    const parts = text.split(":");
    if (parts.length < 2 || parts.length > 3) return false;
    return (
        isComponent(parts[0], 0, 23) &&
        isComponent(parts[1], 0, 59) &&
        (parts[2] === undefined || isComponent(parts[2], 0, 59))
    );
}

/** Whether systemd parses `schedule` as OnCalendar= (within the subset above). */
export function isCalendarEvent(schedule: string): boolean {
    const words = schedule.split(" ");
    if (words.some((word) => word === "")) return false;
    if (words[words.length - 1] === "UTC" && words.length > 1) words.pop();
    if (words.length === 1 && shorthands.includes(words[0].toLowerCase())) return true;
    if (shorthands.includes(words[0].toLowerCase())) return false;
    let i = 0;
    if (words[i] !== undefined && /^[A-Za-z]/.test(words[i])) {
        if (!isWeekdays(words[i])) return false;
        i++;
        if (i === words.length) return true;
    }
    const rest = words.slice(i);
    if (rest.length === 1) return rest[0].includes(":") ? isTime(rest[0]) : isDate(rest[0]);
    return rest.length === 2 && isDate(rest[0]) && isTime(rest[1]);
}

export const calendarEventMessage =
    "must be a systemd calendar expression kubeha can check offline: hourly, daily, weekly or another shorthand; or " +
    '[weekdays] [date] [time] [UTC], like "*:0/15", "Mon..Fri 02:30", "*-*-1 04:00" or "Sat 2026-*-* 03:00:00 UTC" ' +
    "(numbers in range, n..m ranges with n <= m, n/step repeats; see systemd.time(7))";
