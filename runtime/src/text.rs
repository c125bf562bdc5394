//! A small text pipeline for sequence models: tokenise, build a vocabulary (minimum
//! frequency, `<unk>` for the rest), encode and pad to the model's static length with a mask;
//! labelled sentences made ready for a classifier ([`LabelledCorpus`]), and sentence pairs made
//! ready for a translation model ([`ParallelCorpus`]).

use std::collections::HashMap;

/// A sentence as its token strings.
pub type Tokens = Vec<String>;

/// The id of `<pad>`, which fills sequences up to their static length.
pub const PAD: u32 = 0;
/// The id of `<unk>`, which stands for every token below the minimum frequency.
pub const UNK: u32 = 1;

/// Lower-cased words (runs of letters, digits and apostrophes); every other non-space
/// character is a token of its own.
pub fn tokenize(text: &str) -> Tokens {
    let mut tokens = vec![];
    let mut word = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '\'' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

/// Token strings to ids and back: `<pad>` is 0, `<unk>` 1, then any extra special tokens,
/// then the corpus tokens by falling frequency (ties in alphabetical order, so the ids do not
/// depend on hash order).
#[derive(Clone, Debug, PartialEq)]
pub struct Vocab {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Vocab {
    /// The vocabulary of `documents` (tokenised): tokens seen at least `min_freq` times, after
    /// `<pad>`, `<unk>` and `specials` (e.g. `<bos>`, `<eos>`).
    pub fn build<'a>(documents: impl IntoIterator<Item = &'a [String]>, min_freq: usize, specials: &[&str]) -> Vocab {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for document in documents {
            for token in document {
                *counts.entry(token.as_str()).or_default() += 1;
            }
        }
        let mut frequent: Vec<(&str, usize)> = counts.into_iter().filter(|&(_, n)| n >= min_freq.max(1)).collect();
        frequent.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut tokens: Vec<String> = ["<pad>", "<unk>"].iter().chain(specials).map(|s| s.to_string()).collect();
        tokens.extend(frequent.into_iter().map(|(t, _)| t.to_string()).filter(|t| !specials.contains(&t.as_str())));
        let ids = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        Vocab { tokens, ids }
    }

    /// This vocabulary cut to its first `len` ids (at least `<pad>` and `<unk>`): the least
    /// frequent tokens past them become `<unk>`, as torchtext's `max_tokens` drops them.
    pub fn truncated(mut self, len: usize) -> Vocab {
        for token in self.tokens.drain(len.max(2).min(self.tokens.len())..) {
            self.ids.remove(&token);
        }
        self
    }

    /// Number of ids (the embedding's vocabulary size).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Always false: a vocabulary holds at least `<pad>` and `<unk>`.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of `token` (`UNK` if it is not in the vocabulary).
    pub fn id(&self, token: &str) -> u32 {
        self.ids.get(token).copied().unwrap_or(UNK)
    }

    /// The token of `id`, if it is one.
    pub fn token(&self, id: usize) -> Option<&str> {
        self.tokens.get(id).map(String::as_str)
    }

    /// The ids of `tokens`.
    pub fn encode(&self, tokens: &[String]) -> Vec<u32> {
        tokens.iter().map(|t| self.id(t)).collect()
    }

    /// The tokens of `ids` (`<unk>` for an id out of range).
    pub fn decode(&self, ids: &[u32]) -> Vec<&str> {
        ids.iter().map(|&i| self.tokens.get(i as usize).unwrap_or(&self.tokens[UNK as usize]).as_str()).collect()
    }
}

/// `ids` cut or padded with `PAD` to `len`, and its mask (1.0 for real tokens, 0.0 for
/// padding), the form a model of static length `len` takes.
pub fn pad(ids: &[u32], len: usize) -> (Vec<u32>, Vec<f32>) {
    let kept = ids.len().min(len);
    let mut padded = ids[..kept].to_vec();
    padded.resize(len, PAD);
    let mask = (0..len).map(|i| if i < kept { 1.0 } else { 0.0 }).collect();
    (padded, mask)
}

/// Labelled sentences as token ids (each cut to a classifier's static length), with their
/// classes: what a classifier of padded ids and each row's length trains on and is scored with.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledCorpus {
    /// Each sentence's token ids, at most `max_len` of them.
    pub ids: Vec<Vec<u32>>,
    /// Each sentence's class.
    pub labels: Vec<u32>,
    /// The classifier's static length, which [`LabelledCorpus::batch`] pads to.
    pub max_len: usize,
}

impl LabelledCorpus {
    /// The vocabulary of `sentences` (tokenised): tokens seen at least `min_freq` times.
    pub fn vocabulary(sentences: &[crate::corpora::Labelled], min_freq: usize) -> Vocab {
        let tokens: Vec<Vec<String>> = sentences.iter().map(|s| tokenize(&s.sentence)).collect();
        Vocab::build(tokens.iter().map(Vec::as_slice), min_freq, &[])
    }

    /// `sentences` tokenised and encoded with `vocab`, each cut to `max_len` tokens.
    pub fn new(sentences: &[crate::corpora::Labelled], vocab: &Vocab, max_len: usize) -> LabelledCorpus {
        let ids = sentences
            .iter()
            .map(|s| {
                let mut ids = vocab.encode(&tokenize(&s.sentence));
                ids.truncate(max_len);
                ids
            })
            .collect();
        LabelledCorpus { ids, labels: sentences.iter().map(|s| s.label).collect(), max_len }
    }

    /// The number of sentences.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there is no sentence.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Each sentence's length in tokens (what `kiln_runtime::data::bucketed_batches` takes).
    pub fn lengths(&self) -> Vec<usize> {
        self.ids.iter().map(Vec::len).collect()
    }

    /// The sentences `rows` as a batch: their ids padded with `PAD` to `max_len`, their
    /// lengths and their classes.
    pub fn batch(&self, rows: &[usize]) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
        let ids = rows.iter().flat_map(|&row| pad(&self.ids[row], self.max_len).0).collect();
        let lengths = rows.iter().map(|&row| self.ids[row].len() as u32).collect();
        (ids, lengths, rows.iter().map(|&row| self.labels[row]).collect())
    }

    /// The share of the sentences `rows` whose class `predict` scores highest: it takes up to
    /// `batch` of them at a time as [`LabelledCorpus::batch`] gives them (ids and lengths) and
    /// returns `classes` scores per row.
    pub fn accuracy<E>(
        &self,
        rows: &[usize],
        batch: usize,
        classes: usize,
        mut predict: impl FnMut(&[u32], &[u32]) -> Result<Vec<f32>, E>,
    ) -> Result<f64, E> {
        let mut correct = 0;
        for rows in rows.chunks(batch.max(1)) {
            let (ids, lengths, labels) = self.batch(rows);
            let predicted = crate::data::argmax_rows(&predict(&ids, &lengths)?, classes);
            correct += predicted.iter().zip(&labels).filter(|(p, l)| p == l).count();
        }
        Ok(correct as f64 / rows.len().max(1) as f64)
    }
}

/// Sentence pairs as token ids, with a vocabulary for each side built from the training pairs
/// (`<bos>` and `<eos>` are specials of the target's: ids 2 and 3): what a translation model
/// trains on and is scored with.
#[derive(Clone, Debug)]
pub struct ParallelCorpus {
    /// Each pair's source tokens, as ids.
    pub source: Vec<Vec<u32>>,
    /// Each pair's target tokens, as ids, without `<eos>`.
    pub target: Vec<Vec<u32>>,
    /// The source side's vocabulary.
    pub source_vocab: Vocab,
    /// The target side's vocabulary.
    pub target_vocab: Vocab,
    /// How many pairs (the first ones) the vocabularies come from; the rest are held out.
    pub train: usize,
}

impl ParallelCorpus {
    /// The pairs whose source has at most `max_len[0]` tokens and whose target has fewer than
    /// `max_len[1]` (room for `<eos>`), tokenised; all but the last `held_out` of them give the
    /// vocabularies (every token seen, so held-out words may be `<unk>`).
    pub fn new(pairs: &[crate::corpora::Pair], max_len: [usize; 2], held_out: usize) -> ParallelCorpus {
        let tokens: Vec<(Vec<String>, Vec<String>)> = pairs
            .iter()
            .map(|p| (tokenize(&p.source), tokenize(&p.target)))
            .filter(|(s, t)| s.len() <= max_len[0] && t.len() < max_len[1])
            .collect();
        let train = tokens.len().saturating_sub(held_out);
        let source_vocab = Vocab::build(tokens[..train].iter().map(|(s, _)| s.as_slice()), 1, &[]);
        let target_vocab = Vocab::build(tokens[..train].iter().map(|(_, t)| t.as_slice()), 1, &["<bos>", "<eos>"]);
        ParallelCorpus {
            source: tokens.iter().map(|(s, _)| source_vocab.encode(s)).collect(),
            target: tokens.iter().map(|(_, t)| target_vocab.encode(t)).collect(),
            source_vocab,
            target_vocab,
            train,
        }
    }

    /// The number of pairs kept.
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// Whether no pair was kept.
    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    /// The id of `<eos>` in the target vocabulary.
    pub fn eos(&self) -> u32 {
        self.target_vocab.id("<eos>")
    }

    /// The pairs `rows` as a batch of a model of static lengths `lens`: the source ids padded
    /// with `PAD` and their mask, and the target ids followed by `<eos>` and padded.
    pub fn batch(&self, rows: &[usize], lens: [usize; 2]) -> (Vec<f32>, Vec<u32>, Vec<u32>) {
        let (mut mask, mut source, mut target) = (vec![], vec![], vec![]);
        for &row in rows {
            let (ids, real) = pad(&self.source[row], lens[0]);
            source.extend(ids);
            mask.extend(real);
            let with_eos: Vec<u32> = self.target[row].iter().copied().chain([self.eos()]).collect();
            target.extend(pad(&with_eos, lens[1]).0);
        }
        (mask, source, target)
    }

    /// The target tokens a decoder's ids (floats, as a greedy decoder returns them) stand
    /// for, up to its first `<eos>`.
    pub fn decoded(&self, ids: &[f32]) -> Tokens {
        let ids: Vec<u32> = ids.iter().map(|&id| id as u32).take_while(|&id| id != self.eos()).collect();
        self.target_vocab.decode(&ids).into_iter().map(String::from).collect()
    }

    /// The held-out pairs' decodes and references, for `corpus_bleu`: their sources go to
    /// `predict` (a model's greedy decoder: the source mask and ids of up to `batch` rows in,
    /// `lens[1]` ids per row out) a batch at a time, and each decode is read up to `<eos>`.
    pub fn held_out_decodes<E>(
        &self,
        batch: usize,
        lens: [usize; 2],
        mut predict: impl FnMut(&[f32], &[u32]) -> Result<Vec<f32>, E>,
    ) -> Result<(Vec<Tokens>, Vec<Tokens>), E> {
        let (mut hypotheses, mut references) = (vec![], vec![]);
        let rows: Vec<usize> = (self.train..self.len()).collect();
        for rows in rows.chunks(batch.max(1)) {
            let (mask, source, _) = self.batch(rows, lens);
            let decoded = predict(&mask, &source)?;
            for (ids, &row) in decoded.chunks(lens[1]).zip(rows) {
                hypotheses.push(self.decoded(ids));
                references.push(self.reference(row));
            }
        }
        Ok((hypotheses, references))
    }

    /// The target tokens of pair `row`.
    pub fn reference(&self, row: usize) -> Tokens {
        self.target_vocab.decode(&self.target[row]).into_iter().map(String::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_words_and_punctuation() {
        assert_eq!(tokenize("Don't PANIC, it's 42!"), ["don't", "panic", ",", "it's", "42", "!"]);
        assert!(tokenize("  \n").is_empty());
    }

    #[test]
    fn vocabulary_keeps_frequent_tokens_and_maps_the_rest_to_unk() {
        let docs: Vec<Vec<String>> = ["the cat sat", "the dog sat", "a bird"].iter().map(|d| tokenize(d)).collect();
        let vocab = Vocab::build(docs.iter().map(|d| d.as_slice()), 2, &["<eos>"]);
        assert_eq!(vocab.decode(&[0, 1, 2, 3, 4]), ["<pad>", "<unk>", "<eos>", "sat", "the"]);
        assert_eq!(vocab.len(), 5);
        assert_eq!(vocab.encode(&tokenize("The bird sat")), [4, UNK, 3]);
        assert_eq!(vocab.decode(&[99]), ["<unk>"]);
    }

    #[test]
    fn truncated_vocabularies_keep_the_most_frequent_tokens() {
        let docs: Vec<Vec<String>> = ["b a a c c c"].iter().map(|d| tokenize(d)).collect();
        let vocab = Vocab::build(docs.iter().map(|d| d.as_slice()), 1, &[]).truncated(3);
        assert_eq!((vocab.len(), vocab.id("c"), vocab.id("a"), vocab.id("b")), (3, 2, UNK, UNK));
        assert_eq!(vocab.clone().truncated(0).len(), 2, "<pad> and <unk> stay");
        assert_eq!(vocab.clone().truncated(10), vocab);
    }

    #[test]
    fn labelled_corpora_batch_padded_ids_with_lengths() {
        use crate::corpora::Labelled;
        let labelled = |s: &str, label| Labelled { sentence: s.into(), label };
        let sentences = [labelled("a fine film", 1), labelled("dull , dull , dull", 0), labelled("fine", 1)];
        let vocab = LabelledCorpus::vocabulary(&sentences[..2], 1);
        assert_eq!(vocab.decode(&[2, 3]), ["dull", ","]);
        let corpus = LabelledCorpus::new(&sentences, &vocab, 4);
        assert_eq!((corpus.len(), corpus.lengths()), (3, vec![3, 4, 1]), "the second cut to 4");
        let (ids, lengths, labels) = corpus.batch(&[2, 0]);
        let id = |t: &str| vocab.id(t);
        assert_eq!(ids, [id("fine"), PAD, PAD, PAD, id("a"), id("fine"), id("film"), PAD]);
        assert_eq!((lengths, labels), (vec![1, 3], vec![1, 1]));
        // A classifier that always answers class 1 is right on the two sentences of class 1.
        let always_one = |_: &[u32], lengths: &[u32]| Ok::<_, ()>(lengths.iter().flat_map(|_| [0.0, 1.0]).collect());
        assert_eq!(corpus.accuracy(&[0, 1, 2], 2, 2, always_one), Ok(2.0 / 3.0));
        assert_eq!(corpus.accuracy(&[1], 2, 2, always_one), Ok(0.0));
    }

    #[test]
    fn pads_and_truncates_with_a_mask() {
        assert_eq!(pad(&[5, 6], 4), (vec![5, 6, PAD, PAD], vec![1.0, 1.0, 0.0, 0.0]));
        assert_eq!(pad(&[5, 6, 7], 2), (vec![5, 6], vec![1.0, 1.0]));
    }

    #[test]
    fn parallel_corpora_keep_pairs_that_fit_and_batch_them() {
        use crate::corpora::Pair;
        let pair = |s: &str, t: &str| Pair { source: s.into(), target: t.into() };
        let pairs =
            [pair("Go.", "Va !"), pair("Run far away now.", "Cours."), pair("Hi.", "Salut !"), pair("Go!", "Va!")];
        let corpus = ParallelCorpus::new(&pairs, [3, 4], 1);
        assert_eq!((corpus.len(), corpus.train), (3, 2), "the long source is dropped");
        assert_eq!(corpus.target_vocab.token(2), Some("<bos>"));
        let (mask, source, target) = corpus.batch(&[0, 2], [3, 4]);
        let eos = corpus.eos();
        assert_eq!(mask, [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
        assert_eq!(source[..2], corpus.source[0][..]);
        assert_eq!(source[3..5], [corpus.source_vocab.id("go"), corpus.source_vocab.id("!")]);
        assert_eq!(target[..4], [corpus.target[0][0], corpus.target[0][1], eos, PAD]);
        // "va" and "!" are known from the training pairs; the held-out pair's words are too.
        assert_eq!(corpus.reference(2), ["va", "!"]);
        let decoded = [corpus.target[1][0] as f32, eos as f32, 5.0];
        assert_eq!(corpus.decoded(&decoded), corpus.reference(1)[..1]);
        // A decoder that answers each source with its reference and `<eos>` scores exactly.
        let answers: Vec<Vec<f32>> = corpus.target.iter().map(|t| t.iter().map(|&id| id as f32).collect()).collect();
        let (hypotheses, references) = corpus
            .held_out_decodes(1, [3, 4], |_, source| {
                let row = corpus.source.iter().position(|s| source.starts_with(s)).unwrap();
                Ok::<_, ()>([&answers[row][..], &[eos as f32, 0.0, 0.0, 0.0][..]].concat()[..4].to_vec())
            })
            .unwrap();
        assert_eq!((hypotheses.len(), &hypotheses), (1, &references));
        assert_eq!(corpus.held_out_decodes(1, [3, 4], |_, _| Err("no device")), Err("no device"));
    }
}
