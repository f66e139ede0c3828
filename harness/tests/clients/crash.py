#!/usr/bin/env python3
"""The demo client, crashing mid-operation: now and then it performs an
invocation on the database and exits before answering it."""
import os

import demo

demo.serve(demo.misbehaving("crashing", lambda: os._exit(3)))
