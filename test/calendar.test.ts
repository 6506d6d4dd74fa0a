// The backup schedule's grammar (config/calendar.ts) against the judge, systemd-analyze calendar, on this machine.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { isCalendarEvent } from "../config/calendar";

/** Accepted by both: the forms the README shows and their variations. */
const valid = [
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "semiannually",
    "yearly",
    "annually",
    "minutely",
    "daily UTC",
    "*:0/15",
    "*:00",
    "02:30",
    "02:30:15",
    "0/2:00",
    "1..3:00",
    "1,13:05",
    "03:00/2",
    "Mon..Fri 02:00",
    "Mon-Fri",
    "Sat,Sun *-*-* 03:30:00",
    "Mon",
    "monday 04:00",
    "Mon,Wed..Fri 23:59:59",
    "*-*-1 4:00",
    "*-*-* *:*:*",
    "2026-12-06 01:02:03 UTC",
    "*-1,7-1 00:00",
    "2026..2030-01-01",
    "12-25",
    "*-*-1/7 06:00",
    "Sun *-*-1..7 05:00",
];
/** Refused by both. */
const invalid = [
    "",
    " hourly",
    "hourly ",
    "every hour",
    "25:00",
    "*:60",
    "*:0/0",
    "*-*-32",
    "*-13-01",
    "Tue..Mon",
    "00",
    "weekly Mon",
    "Fri 2026-*-* 00",
    "*-*-*/2",
    "2:3:4:5",
    "Mon Tue",
    "1969-01-01",
    "daily; rm -rf /",
    "5..3:00",
    "Mon..",
    "hourly UTC UTC",
];

test("what the grammar accepts and refuses", () => {
    assert.deepEqual(
        valid.filter((schedule) => !isCalendarEvent(schedule)),
        [],
        "refused, though valid",
    );
    assert.deepEqual(invalid.filter(isCalendarEvent), [], "accepted, though invalid");
});

const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
test(
    "systemd-analyze calendar agrees on every example",
    { skip: analyze.status === 0 ? false : "systemd-analyze is not installed" },
    () => {
        const verdict = (schedule: string) =>
            spawnSync("systemd-analyze", ["calendar", schedule], { encoding: "utf8" }).status === 0;
        assert.deepEqual(
            valid.filter((schedule) => !verdict(schedule)),
            [],
            "systemd refuses",
        );
        // The empty string is systemd-analyze's usage error, not a verdict on a schedule.
        assert.deepEqual(
            invalid.filter((schedule) => schedule !== "" && verdict(schedule)),
            [],
            "systemd accepts",
        );
    },
);
