"""Which objects under the backup prefix are snapshots scripts/etcd-backup.sh wrote, newest first.

Reads `rclone lsjson --files-only --use-server-modtime` of the prefix on stdin (ModTime: the store's upload time,
which no writer chooses) and the current time (seconds since the epoch) as its argument. Prints one line per
candidate, newest first: "<upload time, epoch seconds> <name> <name>.sha256". A candidate has the uploader's name,
<UTC time>-<member>.db.gz, a time not in the future and within an hour before its upload (the uploader names it
just before it uploads), and its checksum object beside it. Every other snapshot-like object is named on stderr with
the reason it is ignored: something that may write under the prefix (the members' write-only role) could plant an
object named to sort as the newest. Its content is checked by whoever reads it (etcd-snapshot-pick.sh).
Installed beside the step scripts; run by etcd-backup.sh check and etcd-snapshot-pick.sh.
"""

import datetime
import json
import re
import sys

SKEW = 300  # seconds a host's clock may be ahead of the store's
UPLOAD = 3600  # seconds an upload may take after the uploader named the object
NAME = re.compile(r"^(\d{8}T\d{6}Z)-[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?\.db\.gz$")


def epoch(text):
    text = re.sub(r"\.\d+", "", text).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(text).timestamp()


def main():
    now = float(sys.argv[1])
    entries = {entry["Name"]: entry for entry in json.load(sys.stdin)}
    candidates = []
    for name, entry in sorted(entries.items()):
        if name.endswith(".sha256") and name[: -len(".sha256")] in entries:
            continue
        match = NAME.match(name)
        if not match:
            print(f"ignoring {name}: not a name the backup writes (<UTC time>-<member>.db.gz)", file=sys.stderr)
            continue
        named = datetime.datetime.strptime(match[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        named = named.timestamp()
        uploaded = epoch(entry["ModTime"])
        if named > now + SKEW:
            print(f"ignoring {name}: its time is in the future", file=sys.stderr)
        elif named > uploaded + SKEW or uploaded - named > UPLOAD:
            stamp = datetime.datetime.fromtimestamp(uploaded, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            print(f"ignoring {name}: uploaded at {stamp}, not at the time in its name", file=sys.stderr)
        elif name + ".sha256" not in entries:
            print(f"ignoring {name}: no {name}.sha256 beside it (an incomplete upload)", file=sys.stderr)
        else:
            candidates.append((named, uploaded, name))
    for _, uploaded, name in sorted(candidates, reverse=True):
        print(f"{int(uploaded)} {name} {name}.sha256")


if __name__ == "__main__":
    main()
