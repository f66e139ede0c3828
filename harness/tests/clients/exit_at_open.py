#!/usr/bin/env python3
"""The demo client, failing to start half the time: it exits on `open`
without answering."""
import json
import random
import sys

import demo

if random.random() < 0.5:
    json.loads(sys.stdin.readline())
    print("exiting at open: no database today", file=sys.stderr, flush=True)
    sys.exit(1)
demo.serve()
