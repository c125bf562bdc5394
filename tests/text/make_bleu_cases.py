"""Writes bleu_cases.tsv: seeded corpora of noisy translations and sacrebleu's corpus BLEU of
each, which `kiln_runtime::bleu::corpus_bleu` must reproduce.

    pip install sacrebleu && python3 tests/text/make_bleu_cases.py

Each corpus is its `hypothesis<TAB>reference` lines (tokens separated by spaces), then a line
`score<TAB>S` with sacrebleu's score (`tokenize="none"`, its default `exp` smoothing).
Hypotheses are references with words dropped, replaced, repeated and swapped, so that every
n-gram order has partial matches; one corpus has empty and long hypotheses, one no 4-gram
match, one no match at all.
"""
import pathlib
import random

import sacrebleu

rng = random.Random(35)
words = [f"w{i}" for i in range(40)]


def noisy(reference, rate):
    out = []
    for word in reference:
        r = rng.random()
        if r < rate / 3:
            continue
        out.append(rng.choice(words) if r < 2 * rate / 3 else word)
        if r > 1 - rate / 6:
            out.append(word)
    for i in range(len(out) - 1):
        if rng.random() < rate / 4:
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


corpora = []
for rate in [0.1, 0.3, 0.6, 0.9]:
    references = [[rng.choice(words[: 10 + int(30 * rate)]) for _ in range(rng.randint(3, 14))] for _ in range(25)]
    corpora.append([(noisy(r, rate), r) for r in references])
corpora.append([([], ["a", "b", "c"]), (["a", "b", "c", "d", "e", "f", "g", "h"], ["a", "b", "c", "d"]), (["x"], ["x"])])
corpora.append([(["a", "b", "c", "x", "d", "e"], ["a", "b", "c", "y", "d", "e"])])  # no 4-gram matches
corpora.append([(["p", "q"], ["r", "s", "t"])])  # nothing matches

lines = []
for corpus in corpora:
    hypotheses = [" ".join(h) for h, _ in corpus]
    references = [" ".join(r) for _, r in corpus]
    score = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none").score
    lines += [f"{h}\t{r}" for h, r in zip(hypotheses, references)] + [f"score\t{score!r}"]
path = pathlib.Path(__file__).resolve().parent / "bleu_cases.tsv"
path.write_text("\n".join(lines) + "\n")
print(f"wrote {path}: {len(corpora)} corpora, scores", [l.split("\t")[1][:6] for l in lines if l.startswith("score")])
