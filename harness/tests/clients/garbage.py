#!/usr/bin/env python3
"""The demo client, printing garbage: now and then, instead of the answer
to an invocation it performed, a line that is not JSON, or an answer to
another message."""
import random
import sys

import demo

rng = random.Random()


def after(msg, reply, process):
    if rng.random() < 0.05:
        print(f"garbage for {msg['f']} {msg['id']}", file=sys.stderr, flush=True)
        if rng.random() < 0.5:
            print("this is not JSON {", flush=True)
        else:
            print('{"type":"ok","id":999999,"value":1}', flush=True)
        return None
    return reply


demo.serve(after)
