#!/usr/bin/env python3
"""The demo client, printing garbage: now and then, instead of the answer
to an invocation it performed, a line that is not JSON, or an answer to
another message."""
import random

import demo

rng = random.Random()


def garbage():
    if rng.random() < 0.5:
        print("this is not JSON {", flush=True)
    else:
        print('{"type":"ok","id":999999,"value":1}', flush=True)


demo.serve(demo.misbehaving("printing garbage", garbage))
