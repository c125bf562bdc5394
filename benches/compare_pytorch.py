"""kiln vs PyTorch, side by side on this machine: one train step of the MNIST MLP
(784-256-10, ReLU, cross-entropy, SGD lr 0.1, batch 64 of the bundled digits), CPU.

    python3 benches/compare_pytorch.py [steps]

Runs PyTorch eager (all cores), then kiln's `step_time` example, and prints min / median / max
milliseconds per step and the ratio kiln / PyTorch of the medians (below 1: kiln is faster).
"""
import gzip
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 500
root = pathlib.Path(__file__).resolve().parent.parent
with gzip.open(root / "data/mnist10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16)[: 64 * 784].astype(np.float32) / 255.0
with gzip.open(root / "data/mnist10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)[:64].astype(np.int64)
x = torch.from_numpy(images.copy()).reshape(64, 1, 28, 28)
y = torch.from_numpy(labels.copy())

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)


def step():
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


for _ in range(20):
    step()
times = []
for _ in range(steps):
    started = time.perf_counter()
    step()
    times.append((time.perf_counter() - started) * 1e3)
torch_stats = (min(times), statistics.median(times), max(times))

subprocess.run(["cargo", "build", "--release", "-q", "-p", "kiln-benches", "--example", "step_time"], cwd=root, check=True)
out = subprocess.run([str(root / "target/release/examples/step_time"), str(steps)], capture_output=True, text=True, check=True)
kiln_stats = tuple(float(v) for v in out.stdout.split())

print(f"MNIST MLP train step, batch 64, {steps} steps, torch {torch.__version__} ({torch.get_num_threads()} threads)")
print(f"{'':8} {'min ms':>8} {'median':>8} {'max':>8}")
for name, (lo, mid, hi) in [("pytorch", torch_stats), ("kiln", kiln_stats)]:
    print(f"{name:8} {lo:8.3f} {mid:8.3f} {hi:8.3f}")
print(f"ratio kiln/pytorch (median): {kiln_stats[1] / torch_stats[1]:.2f}")
