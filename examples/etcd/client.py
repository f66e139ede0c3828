#!/usr/bin/env python3
"""A faultline client for etcd (docs/client-protocol.md), standard library only.

Talks to etcd's JSON gateway: /v3/kv/range reads, /v3/kv/put writes, /v3/kv/txn
compare-and-sets; keys and values base64, as the gateway wants. Registers and
cas-registers. --serializable makes reads serializable (answered by the node
from its own state, stale under a partition: what faultline should catch).

`client.py leader n1=http://host:port ...` prints the name of the node that
reports itself leader (the system file's `primary` command).
"""

import base64
import http.client
import json
import socket
import sys
import urllib.parse


def b64(text):
    return base64.b64encode(text.encode()).decode()


class Etcd:
    def __init__(self, endpoint, timeout):
        url = urllib.parse.urlsplit(endpoint)
        self.host, self.port, self.timeout = url.hostname, url.port, timeout
        self.conn = None

    def post(self, path, body):
        """The JSON answer; raises (sent, why) where sent says whether the
        request may have reached etcd."""
        sent = False
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.conn.connect()
            sent = True
            self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            answer = json.loads(resp.read() or b"{}")
        except (OSError, http.client.HTTPException, ValueError) as e:
            self.conn = None
            why = "timed out" if isinstance(e, socket.timeout) else f"{type(e).__name__}: {e}"
            raise Failure(sent, why) from None
        if resp.status != 200:
            raise Failure(True, f"HTTP {resp.status}: {answer.get('message') or answer.get('error')}")
        return answer


class Failure(Exception):
    def __init__(self, sent, why):
        super().__init__(why)
        self.sent, self.why = sent, why


def invoke(etcd, serializable, f, key, value):
    """One operation: (type, value, error)."""
    k = b64(f"faultline/{key}")
    if f == "read":
        body = {"key": k, "serializable": True} if serializable else {"key": k}
        kvs = etcd.post("/v3/kv/range", body).get("kvs") or []
        return "ok", int(base64.b64decode(kvs[0]["value"])) if kvs else None, None
    if f == "write":
        etcd.post("/v3/kv/put", {"key": k, "value": b64(str(value))})
        return "ok", value, None
    if f == "cas":
        old, new = value
        answer = etcd.post("/v3/kv/txn", {
            "compare": [{"key": k, "target": "VALUE", "result": "EQUAL", "value": b64(str(old))}],
            "success": [{"request_put": {"key": k, "value": b64(str(new))}}],
        })
        if answer.get("succeeded"):
            return "ok", value, None
        return "fail", value, "compare failed"
    return "fail", value, f"this client has read, write and cas, not {f}"


def serve(serializable):
    etcd = None
    for line in sys.stdin:
        msg = json.loads(line)
        answer = {"type": "ok", "id": msg["id"]}
        if msg["type"] == "open":
            etcd = Etcd(msg["endpoint"], msg["timeout_ms"] / 1000)
        elif msg["type"] == "invoke":
            try:
                kind, value, error = invoke(etcd, serializable, msg["f"], msg["key"], msg["value"])
            except Failure as e:
                # Not sent: it cannot have happened. Sent: it may have.
                kind, value, error = ("info" if e.sent else "fail"), None, e.why
            answer.update(type=kind, value=value)
            if error:
                answer["error"] = error
        print(json.dumps(answer), flush=True)
        if msg["type"] == "close":
            return


def leader(nodes):
    for node in nodes:
        name, endpoint = node.split("=", 1)
        try:
            status = Etcd(endpoint, 1).post("/v3/maintenance/status", {})
        except Failure:
            continue
        if status.get("leader") and status["leader"] == status["header"]["member_id"]:
            print(name)
            return


if __name__ == "__main__":
    if sys.argv[1:2] == ["leader"]:
        leader(sys.argv[2:])
    else:
        serve("--serializable" in sys.argv[1:])
