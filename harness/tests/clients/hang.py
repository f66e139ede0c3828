#!/usr/bin/env python3
"""The demo client, hanging: now and then it performs an invocation and
never answers (past any op timeout)."""
import random
import sys
import time

import demo

rng = random.Random()


def after(msg, reply, process):
    if rng.random() < 0.05:
        print(f"hanging with {msg['f']} {msg['id']} done but unanswered", file=sys.stderr, flush=True)
        time.sleep(3600)
    return reply


demo.serve(after)
