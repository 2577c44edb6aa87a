#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Advance the stand-in NVML library's fixture file (tests/nvml_standin.c) at known watts.

usage: nvml_fixture.py FILE SPEC... [--proc DEV PID SM]... [--period S]
SPEC is WATTS:UTIL:UUID:NAME for one device with an energy counter that runs at WATTS from
the fixture's start: the file says "=WATTS@START" (CLOCK_MONOTONIC seconds) and the library
computes the counter when it is read, as a device does, so a loaded machine that runs this
script late changes nothing. Every PERIOD seconds (default 0.01) the file is written again,
replaced atomically (the library reads it on every call)."""
import os
import sys
import time


def main(argv):
    path, specs, procs, period = argv[0], [], [], 0.01
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--proc":
            procs.append(tuple(argv[i + 1:i + 4]))
            i += 4
        elif a == "--period":
            period = float(argv[i + 1])
            i += 2
        else:
            watts, util, uuid, name = a.split(":", 3)
            specs.append((float(watts), int(util), uuid, name))
            i += 1
    t0 = time.monotonic()
    tmp = path + ".tmp"
    while True:
        lines = []
        for watts, util, uuid, name in specs:
            lines.append("device =%g@%.9f 0 %d ok ok 0 %s %s" % (watts, t0, util, uuid, name))
        for dev, pid, sm in procs:
            lines.append("proc %s %s %s" % (dev, pid, sm))
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
        time.sleep(period)


if __name__ == "__main__":
    main(sys.argv[1:])
