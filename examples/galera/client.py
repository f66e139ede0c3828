#!/usr/bin/python3
"""A faultline client for MariaDB Galera Cluster (docs/client-protocol.md).

list-append and rw-register transactions on one table, faultline.kv (k INT
PRIMARY KEY, v TEXT): a list is its elements joined by commas, a register its
integer. An append is INSERT ... ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', x),
a write the same with v = x, a read a plain SELECT; each transaction is
START TRANSACTION ... COMMIT at the server's isolation (MariaDB's default,
REPEATABLE READ, unless --isolation says otherwise). --sync-wait N sets
wsrep_sync_wait (0, Galera's default: a node answers reads from what it has
applied).

Needs PyMySQL: Debian's python3-pymysql, in /usr/bin/python3.
"""

import json
import sys

import pymysql

# Errors the server answers with: the transaction did not commit.
ABORTED = (pymysql.err.OperationalError, pymysql.err.InternalError, pymysql.err.ProgrammingError,
           pymysql.err.IntegrityError, pymysql.err.DataError, pymysql.err.NotSupportedError)
# The client's own: the connection broke or timed out (2000-2999).
CLIENT_SIDE = range(2000, 3000)


def option(name, default):
    args = sys.argv[1:]
    return args[args.index(name) + 1] if name in args else default


class Galera:
    def __init__(self, endpoint, timeout):
        host, port = endpoint.rsplit(":", 1)
        self.where = dict(host=host, port=int(port), user="faultline", database="faultline",
                          connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout)
        self.conn = None

    def connect(self):
        if self.conn is None:
            self.conn = pymysql.connect(**self.where, autocommit=False)
            with self.conn.cursor() as c:
                c.execute(f"SET SESSION wsrep_sync_wait = {int(option('--sync-wait', 0))}")
                isolation = option("--isolation", None)
                if isolation:
                    c.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {isolation.replace('-', ' ').upper()}")
        return self.conn

    def drop(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None

    def txn(self, mops, lists):
        """The micro-ops, reads filled in: (type, value, error)."""
        reads_only = all(f == "r" for f, _, _ in mops)
        try:
            conn = self.connect()
        except pymysql.err.MySQLError as e:
            return "fail", None, f"connecting: {e}"
        done = []
        committing = False
        try:
            with conn.cursor() as c:
                c.execute("START TRANSACTION")
                for f, k, v in mops:
                    if f == "r":
                        c.execute("SELECT v FROM kv WHERE k = %s", (k,))
                        row = c.fetchone()
                        if lists:
                            v = [int(x) for x in row[0].split(",") if x] if row else []
                        else:
                            v = int(row[0]) if row else None
                    elif f == "append":
                        c.execute("INSERT INTO kv (k, v) VALUES (%s, %s) "
                                  "ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', VALUES(v))", (k, str(v)))
                    elif f == "w":
                        c.execute("INSERT INTO kv (k, v) VALUES (%s, %s) "
                                  "ON DUPLICATE KEY UPDATE v = VALUES(v)", (k, str(v)))
                    else:
                        conn.rollback()
                        return "fail", None, f"this client has r, append and w, not {f}"
                    done.append([f, k, v])
            committing = True
            conn.commit()
            return "ok", done, None
        except ABORTED as e:
            self.drop()
            code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
            # A commit whose answer never came may have committed; a
            # server's refusal (a deadlock, a certification failure), or any
            # error before COMMIT was sent, means it did not.
            if committing and code in CLIENT_SIDE and not reads_only:
                return "info", None, f"commit: {e}"
            return "fail", None, str(e)
        except (OSError, pymysql.err.MySQLError) as e:
            self.drop()
            if committing and not reads_only:
                return "info", None, f"commit: {e}"
            return "fail", None, str(e)


def main():
    galera, lists = None, True
    for line in sys.stdin:
        msg = json.loads(line)
        answer = {"type": "ok", "id": msg["id"]}
        if msg["type"] == "open":
            galera = Galera(msg["endpoint"], msg["timeout_ms"] / 1000)
            lists = msg["workload"] == "list-append"
        elif msg["type"] == "invoke":
            if msg["f"] == "txn":
                kind, value, error = galera.txn(msg["value"], lists)
            else:
                kind, value, error = "fail", None, f"this client runs transactions, not {msg['f']}"
            answer.update(type=kind, value=value)
            if error:
                answer["error"] = error
        elif msg["type"] == "close":
            galera and galera.drop()
        print(json.dumps(answer), flush=True)
        if msg["type"] == "close":
            return


if __name__ == "__main__":
    main()
