"""Per-kernel times of two `step_time` binaries, side by side in one run.

    python3 benches/compare_kernels.py BEFORE AFTER [model] [rounds] [steps]

Runs `KILN_PROFILE=1 step_time model steps` with each binary in turn, `rounds` times, and keeps
each kernel's least time per call (ms) over the rounds: this shared host's load comes and goes,
and a kernel's least time is the steadiest figure of its own cost. Prints both, their ratio, and
the sums of the minima. Build a binary with
`cargo build --release -p kiln-benches --example step_time` and copy
`target/release/examples/step_time` aside before changing the code.
"""

import collections
import os
import re
import subprocess
import sys


def minima(binary, model, steps, into):
    env = dict(os.environ, KILN_PROFILE="1")
    run = subprocess.run([binary, model, steps], capture_output=True, text=True, env=env, check=True)
    for line in (run.stdout + run.stderr).splitlines():
        m = re.match(r"\s+([\d.]+)\s+[\d.]+%\s+\S+ (%\d+) = (\S+)", line)
        if m:
            key = (m.group(2), m.group(3))
            into[key] = min(into.get(key, float("inf")), float(m.group(1)))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    before, after = sys.argv[1], sys.argv[2]
    model = sys.argv[3] if len(sys.argv) > 3 else "lenet5"
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    steps = sys.argv[5] if len(sys.argv) > 5 else "200"
    best = collections.defaultdict(dict)
    for _ in range(rounds):
        for name, binary in (("before", before), ("after", after)):
            minima(binary, model, steps, best[name])
    total_before = total_after = 0.0
    print(f"{'value':>6} {'op':<18} {'before':>7} {'after':>7} ratio")
    for key in sorted(best["before"], key=lambda k: -best["before"][k]):
        b, a = best["before"][key], best["after"].get(key)
        if a is None:
            continue
        total_before += b
        total_after += a
        print(f"{key[0]:>6} {key[1]:<18} {b:7.4f} {a:7.4f} {a / b:.2f}")
    print(f"sum of minima: {total_before:.4f} {total_after:.4f} ({total_after / total_before:.3f}x)")


if __name__ == "__main__":
    main()
