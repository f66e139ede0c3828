#!/usr/bin/env python3
"""A faultline client program (docs/client-protocol.md) for the demo
cluster: it speaks the demo node's own JSON-lines protocol over TCP to
the endpoint it is opened on, classifying each outcome as the built-in
client does. The misbehaving clients beside it are this one, broken in
one way each (`serve`'s `after` hook, from `misbehaving`). With --heartbeat it writes the time
to stderr every 50 ms from a thread: a paused client shows a gap."""
import json
import random
import socket
import sys
import threading
import time


class Node:
    """One connection to one demo node, made on first use."""

    def __init__(self, endpoint, timeout):
        host, port = endpoint.rsplit(":", 1)
        self.addr, self.timeout, self.conn = (host, int(port)), timeout, None

    def call(self, request):
        """The node's response; raises ConnectionError before anything was
        sent, OSError after."""
        if self.conn is None:
            try:
                self.conn = socket.create_connection(self.addr, timeout=self.timeout)
            except OSError as e:
                raise ConnectionError(f"connect: {e}") from e
            self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.reader = self.conn.makefile("r")
        try:
            self.conn.sendall((json.dumps(request) + "\n").encode())
            line = self.reader.readline()
            if not line:
                raise OSError("connection closed before a response")
            return json.loads(line)
        except (OSError, ValueError):
            self.conn.close()
            self.conn = None
            raise


WIRE = {"register": {"read": "read", "write": "write", "cas": "cas"},
        "cas-register": {"read": "read", "write": "write", "cas": "cas"},
        "set": {"add": "sadd", "read": "smembers"}}


def perform(node, workload, msg):
    """One invocation's answer, without its id."""
    f = msg["f"]
    wire = WIRE.get(workload, {}).get(f)
    if wire is None:
        return {"type": "fail", "error": f"the demo client has no {f} for {workload}"}
    reading = f == "read"
    key = 0 if msg["key"] is None else msg["key"]
    try:
        resp = node.call({"f": wire, "k": key, "v": msg["value"]})
    except ConnectionError as e:
        return {"type": "fail", "error": str(e)}
    except (OSError, ValueError) as e:
        return {"type": "fail" if reading else "info", "error": str(e)}
    if resp.get("ok"):
        return {"type": "ok", "value": resp.get("v")} if reading else {"type": "ok"}
    definite = resp.get("definite") or reading
    return {"type": "fail" if definite else "info", "error": resp.get("err", "refused")}


def beat():
    while True:
        print(f"beat {time.time():.3f}", file=sys.stderr, flush=True)
        time.sleep(0.05)


def misbehaving(doing, act, rate=0.05):
    """An `after` hook that, for about one invocation in 1/rate, performs it,
    says so on stderr, and does `act` instead of answering (an `act` that
    returns leaves the answer unsent)."""
    rng = random.Random()

    def after(msg, reply, process):
        if rng.random() >= rate:
            return reply
        print(f"{doing} with {msg['f']} {msg['id']} done but unanswered", file=sys.stderr, flush=True)
        act()
        return None

    return after


def serve(after=lambda msg, reply, process: reply):
    """Answers faultline until `close`. `after` may change (or withhold)
    each invocation's answer."""
    node, workload, process = None, None, None
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["type"] == "open":
            node = Node(msg["endpoint"], msg["timeout_ms"] / 1000)
            workload, process = msg["workload"], msg["process"]
            reply = {"type": "ok"}
        elif msg["type"] == "close":
            reply = {"type": "ok"}
        else:
            reply = after(msg, perform(node, workload, msg), process)
        if reply is not None:
            reply["id"] = msg["id"]
            print(json.dumps(reply), flush=True)
        if msg["type"] == "close":
            return


if __name__ == "__main__":
    if "--heartbeat" in sys.argv:
        threading.Thread(target=beat, daemon=True).start()
    serve()
