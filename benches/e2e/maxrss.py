"""Fallback peak-RSS wrapper of benches/e2e.sh, used when /usr/bin/time is missing and
/proc cannot be polled.

    python3 benches/e2e/maxrss.py OUT CMD [ARG...]

Runs CMD (its stdout and stderr pass through), then writes "WALL_SECONDS MAXRSS_KB" to OUT:
the wall time of the child alone and getrusage(RUSAGE_CHILDREN).ru_maxrss (KB on Linux),
the peak resident set size of the largest waited-for child. Exits with CMD's exit code.
"""

import resource
import subprocess
import sys
import time

out, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
code = subprocess.call(cmd)
wall = time.perf_counter() - start
with open(out, "w") as f:
    f.write(f"{wall:.6f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\n")
sys.exit(code)
