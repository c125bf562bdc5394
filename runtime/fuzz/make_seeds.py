"""Writes the seed inputs of the fuzz targets (valid files of each format) into seeds/<target>/.

    python3 runtime/fuzz/make_seeds.py     # needs numpy, pillow and safetensors

The fuzzer mutates these; crashes it finds are added to regressions/<target>/ by hand.
"""
import gzip
import io
import pathlib
import struct

import numpy as np
from PIL import Image
from safetensors.numpy import save

ROOT = pathlib.Path(__file__).parent / "seeds"


def write(target, name, data):
    (ROOT / target).mkdir(parents=True, exist_ok=True)
    (ROOT / target / name).write_bytes(data)


def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


write("idx", "images", idx([2, 3, 3], range(18)))
write("idx", "labels", idx([4], [1, 2, 3, 9]))
write("idx", "images.gz", gzip.compress(idx([2, 2, 2], range(8)), mtime=0))

record = lambda label: bytes([label]) + bytes(i % 256 for i in range(3072))
write("cifar10", "one", record(3))
write("cifar10", "two", record(0) + record(9))

pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
for fmt, mode in [("PNG", "RGB"), ("PNG", "L"), ("JPEG", "RGB")]:
    out = io.BytesIO()
    image = Image.fromarray(pixels)
    image.convert(mode).save(out, format=fmt)
    write("image", f"{mode.lower()}.{fmt.lower()}", out.getvalue())

weights = {"0.weight": np.ones((3, 2), np.float32), "0.bias": np.zeros(3, np.float32),
           "1.num_batches_tracked": np.array(5, np.int64)}
write("checkpoint", "state_dict", save(weights))
write("checkpoint", "resumable", save({**weights, "optimizer.0.weight.exp_avg": np.ones((3, 2), np.float32)},
                                      metadata={"kiln.step": "7"}))

text = pathlib.Path(__file__).parent.parent.parent / "tests" / "text"
for name, sample in [("sst2.tsv", "sst2_sample.tsv"), ("tatoeba.tsv", "tatoeba_sample.tsv")]:
    lines = (text / sample).read_bytes().splitlines(keepends=True)
    write("tsv", name, b"".join(lines[:5]))
write("glove", "vectors.txt", b"the 0.1 -0.2 0.3\ncat 1e-3 2.5 -4\ndog 0 0 1\n")
