#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Advance the stand-in NVML library's fixture file (tests/nvml_standin.c) at known watts.

usage: nvml_fixture.py FILE SPEC... [--proc DEV PID SM]... [--period S]
SPEC is WATTS:UTIL:UUID:NAME for one device with an energy counter. Every PERIOD seconds
(default 0.01) each device's counter is set to WATTS x the time since start, in mJ, and
the file is replaced atomically (the library reads it again on every call)."""
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
        dt = time.monotonic() - t0
        lines = []
        for watts, util, uuid, name in specs:
            mj = int(1000000 + watts * dt * 1000)
            lines.append("device %d 0 %d ok ok 0 %s %s" % (mj, util, uuid, name))
        for dev, pid, sm in procs:
            lines.append("proc %s %s %s" % (dev, pid, sm))
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
        time.sleep(period)


if __name__ == "__main__":
    main(sys.argv[1:])
