#!/usr/bin/env python3
"""A trivial faultline client (docs/client-protocol.md): no database, it
answers every operation at once from a dict of its own. It measures the
protocol itself (`faultline bench --only client`); its histories mean
nothing, since every process keeps its own data."""
import json
import sys


def answer(msg, data):
    """The answer to one invocation, from this process's own data."""
    f, key, value = msg["f"], msg["key"], msg["value"]
    if f == "read":
        return [] if key is None else data.get(key)
    if f == "fetch":
        return []
    if f == "txn":
        lists = data.get("workload") == "list-append"
        return [[m[0], m[1], (data.get(m[1], [] if lists else None) if m[0] == "r" else m[2])]
                for m in value]
    if f == "write":
        data[key] = value
    elif f == "cas" and data.get(key) != value[0]:
        return False
    elif f == "cas":
        data[key] = value[1]
    return value


def main():
    data = {}
    out = sys.stdout
    for line in sys.stdin:
        msg = json.loads(line)
        kind, mid = msg["type"], msg["id"]
        if kind == "open":
            data["workload"] = msg["workload"]
            reply = {"type": "ok", "id": mid}
        elif kind == "close":
            out.write(json.dumps({"type": "ok", "id": mid}) + "\n")
            out.flush()
            return
        else:
            value = answer(msg, data)
            reply = ({"type": "fail", "id": mid, "error": "compare failed"} if value is False
                     else {"type": "ok", "id": mid, "value": value})
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
