"""Kernel times inside a train step, without the profiler's own overhead.

    python3 benches/kernel_times.py [mlp|lenet5|...] [R]

`KILN_PROFILE=R step_time` launches each kernel R times and then syncs, so a kernel's time per
launch is t + c / R, where c is the cost of that sync and of waking the CPU runtime's idle
workers afterwards (about 0.6 ms a kernel here, far more than a small kernel). This runs the
profile with R and 2R launches and solves for t = 2 t(2R) - t(R). Prints t per kernel, slowest
first, with GFLOP/s where the model's compile report counts FLOPs, and the sum of t over the
step (the median of 5 pairs of runs for each). Builds `step_time` first, as `compare_pytorch.py` does.
"""
import os
import pathlib
import re
import statistics
import subprocess
import sys

model = sys.argv[1] if len(sys.argv) > 1 else "mlp"
launches = int(sys.argv[2]) if len(sys.argv) > 2 else 16
root = pathlib.Path(__file__).resolve().parent.parent
ROUNDS = 5
REPORTS = {"mlp": "mnist_mlp", "lenet5": "le_net5", "residual": "residual_cnn", "reverser": "digit_reverser", "softmax": "softmax_regression"}


def profile(r):
    """{kernel label: ms per launch} from `KILN_PROFILE=r step_time model`."""
    out = subprocess.run([str(root / "target/release/examples/step_time"), model, "40"], env={**os.environ, "KILN_PROFILE": str(r)},
                         capture_output=True, text=True, check=True)
    rows = [line.split(None, 2) for line in out.stderr.splitlines()[1:] if line.strip()]
    return {label.strip(): float(ms) for ms, _, label in rows}


def flops():
    """{value id: FLOPs} of the train step's kernels in the newest compile report, if any."""
    reports = sorted([r for crate in ("models", "zoo") for r in root.glob(f"target/release/build/kiln-{crate}-*/out/{REPORTS.get(model, model)}.report.txt")], key=lambda p: p.stat().st_mtime)
    if not reports:
        return {}
    train = reports[-1].read_text().split("train:", 1)[1].split("\n\n")[0]
    scale = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}
    found = re.findall(r"^\s+(%\d+)\s+\S+\s+\[[^\]]*\]\s+([\d.]+)([KMG]?) flops", train, re.M)
    return {value: float(n) * scale[unit] for value, n, unit in found}


# --workspace: the feature set of `cargo test --workspace`, so the two share one build.
subprocess.run(["cargo", "build", "--release", "-q", "--workspace", "--example", "step_time"], cwd=root, check=True)
# The difference amplifies noise: the median over a few alternating pairs of runs.
pairs = [(profile(launches), profile(2 * launches)) for _ in range(ROUNDS)]
counts = flops()
times = {label: statistics.median(2 * twice[label] - once[label] for once, twice in pairs) for label in pairs[0][0]}
print(f"{model}: ms per launch, t = 2 t({2 * launches}) - t({launches}), median of {ROUNDS} pairs of runs")
for label, ms in sorted(times.items(), key=lambda item: -item[1]):
    value = re.search(r"(%\d+) =", label)
    rate = counts.get(value.group(1)) if value else None
    speed = f"{rate / ms / 1e6:7.1f} GFLOP/s" if rate and ms > 0 else " " * 15
    print(f"{ms:8.4f}  {speed}  {label}")
print(f"{sum(times.values()):8.4f}  sum over the step")
