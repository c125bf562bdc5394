"""Writes glove_sample.txt: vectors in GloVe's text form (`word v1 ... v50`, 5 decimals) for
the words of sst2_sample.tsv, as kiln's tokenizer splits them, plus a few words the sample
lacks. The values are seeded random numbers, not trained vectors: the file checks the format
and the alignment with a vocabulary, not what the vectors mean.

    python3 tests/text/make_glove_sample.py
"""
import pathlib
import random
import re

HERE = pathlib.Path(__file__).parent
DIM = 50
rng = random.Random(50)
words = []
for line in (HERE / "sst2_sample.tsv").read_text(encoding="utf-8").splitlines()[1:]:
    sentence = line.rsplit("\t", 1)[0].lower()
    for token in re.findall(r"[\w']+|[^\w\s']", sentence):
        if token not in words:
            words.append(token)
words += ["glove", "vector", "unseen"]
with open(HERE / "glove_sample.txt", "w", encoding="utf-8") as out:
    for word in words:
        out.write(word + " " + " ".join(f"{rng.gauss(0, 0.4):.5f}" for _ in range(DIM)) + "\n")
print(f"{len(words)} words of {DIM} dimensions")
