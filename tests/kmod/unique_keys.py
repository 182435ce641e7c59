"""Exits non-zero when a JSON file has an object with the same key twice (Python's json
module would silently keep the last one)."""
import json
import sys


def unique(pairs):
    keys = [k for k, _ in pairs]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        sys.exit(f"{sys.argv[1]}: key(s) {sorted(dup)} repeated in one object")
    return dict(pairs)


with open(sys.argv[1]) as f:
    json.load(f, object_pairs_hook=unique)
