#!/usr/bin/env python3
"""The demo client, hanging: now and then it performs an invocation and
never answers (past any op timeout)."""
import time

import demo

demo.serve(demo.misbehaving("hanging", lambda: time.sleep(3600)))
