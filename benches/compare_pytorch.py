"""kiln vs PyTorch, side by side on this machine: one train step (batch 64 of the bundled
digits, CPU) of the MNIST MLP (784-256-10, ReLU, cross-entropy, SGD lr 0.1) and of LeNet-5
(conv 5x5->6 pad 2, max pool, conv 5x5->16, max pool, 120-84-10, ReLU, Adam lr 2e-3); and of
a bag of embeddings (64 sentences of 16 ids of 5,000, embedding 50, mean, linear 2, Adam lr
1e-3; `benches/build.rs`) and of the zoo's LSTM classifier (64 sequences of 12 ids of 48,
embedding 16, LSTM 32, mean over the unmasked steps, linear 2, Adam lr 1e-2), and of the
sentence classifiers of issue 35 (64 sentences of 64 ids of 20,000, embedding 50, LSTM or GRU
128, mean, linear 2, Adam lr 1e-3; `benches/build.rs`) and its encoder-decoder with attention
(`seq2seq`: 64 pairs of up to 24 ids of 8,000, embedding 64, LSTM encoder 128, LSTM-cell
decoder 128 attending over the encoder with the source's padding masked, teacher forcing,
cross-entropy ignoring padding, Adam lr 1e-3), which run only when named.

    python3 benches/compare_pytorch.py [steps] [models: mlp lenet5 embedding lstm lstm64 gru64 lstm64packed seq2seq lstm-len16 .. lstm-len256]

`KILN_STEP_TIME=path/to/step_time` times that binary instead of building the workspace's (a
copy of an earlier build, to compare before and after a change in one session).

Runs PyTorch eager (all cores) and kiln's `step_time` example per model, alternating in 5
rounds of steps/5 steps each so that drift in the machine's speed (it is shared) hits both
alike. Prints min / median / max milliseconds per step (the median is that of the rounds'
medians) and the ratio kiln / PyTorch of the medians, with its range over the rounds (below 1:
kiln is faster).
"""
import gzip
import os
import pathlib
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 500
root = pathlib.Path(__file__).resolve().parent.parent
with gzip.open(root / "data/mnist10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16)[: 64 * 784].astype(np.float32) / 255.0
with gzip.open(root / "data/mnist10k-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)[:64].astype(np.int64)
x = torch.from_numpy(images.copy()).reshape(64, 1, 28, 28)
y = torch.from_numpy(labels.copy())
# The ids and labels of kiln_benches::embedding_bag_batch: small ids are frequent.
ids = torch.tensor([(i * 2_654_435_761 % 1_000_003) % 5000 // (1 + i % 7) for i in range(64 * 16)]).reshape(64, 16)
bag_labels = torch.arange(64) % 2


class EmbeddingBag(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding, self.linear = nn.Embedding(5000, 50), nn.Linear(50, 2)

    def forward(self, ids):
        return self.linear(self.embedding(ids).mean(1))


class LstmClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding, self.lstm, self.linear = nn.Embedding(48, 16), nn.LSTM(16, 32, batch_first=True), nn.Linear(32, 2)

    def forward(self, batch):
        ids, mask = batch
        states = self.lstm(self.embedding(ids))[0] * mask.unsqueeze(2)
        return self.linear(states.sum(1) / mask.sum(1, keepdim=True).clamp(min=1))


class SentenceClassifier(nn.Module):
    def __init__(self, recurrent, vocab=20000):
        super().__init__()
        self.embedding, self.recurrent, self.linear = nn.Embedding(vocab, 50), recurrent(50, 128, batch_first=True), nn.Linear(128, 2)

    def forward(self, ids):
        return self.linear(self.recurrent(self.embedding(ids))[0].mean(1))


class PackedSentenceClassifier(SentenceClassifier):
    """`SentenceClassifier(nn.LSTM)` over each sentence's own length: the mean of its states over the real steps."""

    def forward(self, batch):
        ids, lengths = batch
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        states, _ = nn.utils.rnn.pad_packed_sequence(self.recurrent(packed)[0], batch_first=True)
        return self.linear(states.sum(1) / lengths.unsqueeze(1))


class Seq2seqAttention(nn.Module):
    """`models/zoo/build/seq2seq.rs` in PyTorch, at benchmark (iii)'s size: logits [batch, steps, vocab]."""

    def __init__(self, vocab=8000, embedding=64, hidden=128):
        super().__init__()
        self.source_embedding, self.encoder = nn.Embedding(vocab, embedding), nn.LSTM(embedding, hidden, batch_first=True)
        self.target_embedding, self.cell = nn.Embedding(vocab, embedding), nn.LSTMCell(embedding + hidden, hidden)
        self.readout = nn.Linear(2 * hidden, vocab)

    def forward(self, batch):
        mask, source, target = batch
        encoded = self.encoder(self.source_embedding(source))[0]
        context = (encoded * mask.unsqueeze(2)).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        h = c = torch.zeros(source.shape[0], encoded.shape[2])
        token = self.target_embedding(torch.full((source.shape[0],), 2))
        forced, keys, logits = self.target_embedding(target), mask.bool().unsqueeze(1), []
        for t in range(target.shape[1]):
            h, c = self.cell(torch.cat([token, context], 1), (h, c))
            context = nn.functional.scaled_dot_product_attention(h.unsqueeze(1), encoded, encoded, attn_mask=keys)
            context = context.squeeze(1)
            logits.append(self.readout(torch.cat([h, context], 1)))
            token = forced[:, t]
        return torch.stack(logits, 1)


def seq2seq_batch():
    """kiln_benches::seq2seq_batch: (mask, source, target)."""
    def id(i):
        return 4 + (i * 2_654_435_761 % 1_000_003) % 7996 // (1 + i % 7)
    mask, source, target = [], [], []
    for row in range(64):
        source_len, target_len = 4 + row * 37 % 21, 4 + row * 53 % 20
        for t in range(24):
            i = row * 24 + t
            mask.append(1.0 if t < source_len else 0.0)
            source.append(id(i) if t < source_len else 0)
            target.append(id(i + 7_777) if t < target_len else 3 if t == target_len else 0)
    shape = (64, 24)
    return torch.tensor(mask).reshape(shape), torch.tensor(source).reshape(shape), torch.tensor(target).reshape(shape)


def sequence_loss(logits, target):
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[2]), target.reshape(-1), ignore_index=0)


# The ids of kiln_benches::sentence_batch.
def sentences(length, vocab):
    """`kiln_benches::sentences`: 64 sentences of `length` ids of `vocab`."""
    return torch.tensor([(i * 2_654_435_761 % 1_000_003) % vocab // (1 + i % 7) for i in range(64 * length)]).reshape(64, length)


sentence_ids = sentences(64, 20000)
# `kiln_benches::packed_sentence_batch`: rows cut to 9 to 16 ids.
sentence_lengths = torch.tensor([9 + row * 5 % 8 for row in range(64)])
short_ids = sentence_ids * (torch.arange(64)[None, :] < sentence_lengths[:, None])

# The batch of `step_time lstm`: row r has 12 - r % 4 real steps.
LEN = 12
lstm_ids = torch.tensor([i * 7 % 48 for i in range(64 * LEN)]).reshape(64, LEN)
lstm_mask = torch.tensor([1.0 if i % LEN < LEN - (i // LEN) % 4 else 0.0 for i in range(64 * LEN)]).reshape(64, LEN)

torch.manual_seed(0)
MODELS = {
    "mlp": (nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)),
            lambda params: torch.optim.SGD(params, lr=0.1), (x, y)),
    "lenet5": (nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, 10)),
               lambda params: torch.optim.Adam(params, lr=2e-3), (x, y)),
    "embedding": (EmbeddingBag(), lambda params: torch.optim.Adam(params, lr=1e-3), (ids, bag_labels)),
    "lstm": (LstmClassifier(), lambda params: torch.optim.Adam(params, lr=1e-2), ((lstm_ids, lstm_mask), bag_labels)),
    "lstm64": (SentenceClassifier(nn.LSTM), lambda params: torch.optim.Adam(params, lr=1e-3), (sentence_ids, bag_labels)),
    "gru64": (SentenceClassifier(nn.GRU), lambda params: torch.optim.Adam(params, lr=1e-3), (sentence_ids, bag_labels)),
    "lstm64packed": (PackedSentenceClassifier(nn.LSTM), lambda params: torch.optim.Adam(params, lr=1e-3),
                     ((short_ids, sentence_lengths), bag_labels)),
}
# Issue 35's table: its LSTM classifier (vocabulary 5,000) at lengths 16 to 256.
for length in [16, 32, 64, 128, 256]:
    MODELS[f"lstm-len{length}"] = (SentenceClassifier(nn.LSTM, vocab=5000), lambda params: torch.optim.Adam(params, lr=1e-3),
                                   (sentences(length, 5000), bag_labels))
seq2seq_mask, seq2seq_source, seq2seq_target = seq2seq_batch()
MODELS["seq2seq"] = (Seq2seqAttention(), lambda params: torch.optim.Adam(params, lr=1e-3),
                     ((seq2seq_mask, seq2seq_source, seq2seq_target), seq2seq_target), sequence_loss)
chosen = sys.argv[2:] or ["mlp", "lenet5"]


ROUNDS = 5


def torch_times(model, optimizer, batch, count, loss_of=nn.functional.cross_entropy):
    inputs, targets = batch

    def step():
        optimizer.zero_grad()
        loss = loss_of(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(20):
        step()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        step()
        times.append((time.perf_counter() - started) * 1e3)
    return min(times), statistics.median(times), max(times)


STEP_TIME = os.environ.get("KILN_STEP_TIME")


def kiln_times(name, count):
    out = subprocess.run([STEP_TIME or str(root / "target/release/examples/step_time"), name, str(count)],
                         capture_output=True, text=True, check=True)
    return tuple(float(v) for v in out.stdout.split())


def combine(rounds):
    return min(r[0] for r in rounds), statistics.median(r[1] for r in rounds), max(r[2] for r in rounds)


# --workspace: the feature set of `cargo test --workspace`, so the two share one build.
if STEP_TIME is None:
    subprocess.run(["cargo", "build", "--release", "-q", "--workspace", "--example", "step_time"], cwd=root, check=True)
print(f"train step, batch 64, {steps} steps, torch {torch.__version__} ({torch.get_num_threads()} threads)")
print(f"{'':16} {'min ms':>8} {'median':>8} {'max':>8}")
for name in chosen:
    model, make_optimizer, batch, *loss_of = MODELS[name]
    optimizer = make_optimizer(model.parameters())
    torch_rounds, kiln_rounds = [], []
    for _ in range(ROUNDS):
        torch_rounds.append(torch_times(model, optimizer, batch, steps // ROUNDS, *loss_of))
        kiln_rounds.append(kiln_times(name, steps // ROUNDS))
    torch_stats, kiln_stats = combine(torch_rounds), combine(kiln_rounds)
    for who, (lo, mid, hi) in [("pytorch", torch_stats), ("kiln", kiln_stats)]:
        print(f"{name + ' ' + who:16} {lo:8.3f} {mid:8.3f} {hi:8.3f}")
    ratios = [k[1] / t[1] for k, t in zip(kiln_rounds, torch_rounds)]
    print(f"{name + ' ratio':16} kiln/pytorch (median): {kiln_stats[1] / torch_stats[1]:.3f}"
          f" (rounds: {min(ratios):.3f} to {max(ratios):.3f})")
