#!/usr/bin/env python3
"""The demo client, crashing mid-operation: now and then it performs an
invocation on the database and exits before answering it."""
import os
import random
import sys

import demo

rng = random.Random()


def after(msg, reply, process):
    if rng.random() < 0.05:
        print(f"crashing with {msg['f']} {msg['id']} done but unanswered", file=sys.stderr, flush=True)
        os._exit(3)
    return reply


demo.serve(after)
