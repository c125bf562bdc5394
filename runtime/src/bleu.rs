//! Corpus BLEU, as sacrebleu computes it: clipped 1- to 4-gram precisions summed over the
//! corpus, their geometric mean, a brevity penalty, and sacrebleu's default `exp` smoothing of
//! an order with no match. The sentences come tokenised, so this is
//! `sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none")` of the space-joined
//! tokens (`tests/text/make_bleu_cases.py` checks it against sacrebleu itself).

use std::collections::HashMap;

/// The longest n-gram BLEU counts.
const MAX_ORDER: usize = 4;

/// A corpus BLEU score and the counts behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Bleu {
    /// The score, 0 to 100.
    pub score: f64,
    /// The 1- to 4-gram precisions, 0 to 100 (smoothed where an order has no match).
    pub precisions: [f64; MAX_ORDER],
    /// The brevity penalty, `exp(1 - reference / hypothesis)` where the hypotheses are shorter.
    pub brevity_penalty: f64,
    /// Tokens in all hypotheses.
    pub hypothesis_len: usize,
    /// Tokens in all references.
    pub reference_len: usize,
}

/// Corpus BLEU of `hypotheses` against one reference each (pairs beyond the shorter list are
/// ignored). An empty corpus, or one whose hypotheses are all empty, scores 0.
pub fn corpus_bleu<H: AsRef<str>, R: AsRef<str>>(hypotheses: &[Vec<H>], references: &[Vec<R>]) -> Bleu {
    let (mut matches, mut totals) = ([0usize; MAX_ORDER], [0usize; MAX_ORDER]);
    let (mut hypothesis_len, mut reference_len) = (0, 0);
    for (hypothesis, reference) in hypotheses.iter().zip(references) {
        let hypothesis: Vec<&str> = hypothesis.iter().map(AsRef::as_ref).collect();
        let reference: Vec<&str> = reference.iter().map(AsRef::as_ref).collect();
        hypothesis_len += hypothesis.len();
        reference_len += reference.len();
        for n in 1..=MAX_ORDER {
            let available = ngram_counts(&reference, n);
            for (gram, count) in ngram_counts(&hypothesis, n) {
                matches[n - 1] += count.min(available.get(gram).copied().unwrap_or(0));
            }
            totals[n - 1] += hypothesis.len().saturating_sub(n - 1);
        }
    }
    // sacrebleu's `exp` smoothing: the k-th order with no match counts as 1 / 2^k matches,
    // unless no order matches at all (then every precision and the score are 0).
    let mut precisions = [0.0; MAX_ORDER];
    let mut smoothing = 1.0;
    for n in 0..MAX_ORDER {
        if totals[n] == 0 || matches.iter().all(|&m| m == 0) {
            break;
        }
        precisions[n] = if matches[n] == 0 {
            smoothing *= 2.0;
            100.0 / (smoothing * totals[n] as f64)
        } else {
            100.0 * matches[n] as f64 / totals[n] as f64
        };
    }
    let brevity_penalty = match hypothesis_len {
        0 => 0.0,
        h if h < reference_len => (1.0 - reference_len as f64 / h as f64).exp(),
        _ => 1.0,
    };
    let log_mean = precisions.iter().map(|&p| if p > 0.0 { p.ln() } else { f64::NEG_INFINITY }).sum::<f64>();
    let score = match brevity_penalty {
        0.0 => 0.0,
        bp => bp * (log_mean / MAX_ORDER as f64).exp(),
    };
    Bleu { score, precisions, brevity_penalty, hypothesis_len, reference_len }
}

/// How often each n-gram of `tokens` occurs.
fn ngram_counts<'a>(tokens: &'a [&'a str], n: usize) -> HashMap<&'a [&'a str], usize> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        text.split_whitespace().collect()
    }

    #[test]
    fn identical_sentences_score_100_and_disjoint_ones_0() {
        let same = [words("the cat sat on the mat")];
        let bleu = corpus_bleu(&same, &same);
        assert!((bleu.score - 100.0).abs() < 1e-12 && bleu.brevity_penalty == 1.0, "{bleu:?}");
        let bleu = corpus_bleu(&[words("a dog ran in a park")], &same);
        assert_eq!((bleu.score, bleu.precisions), (0.0, [0.0; 4]));
    }

    #[test]
    fn orders_without_a_match_are_smoothed() {
        let bleu = corpus_bleu(&[words("the cat ran to a mat")], &[words("the cat sat on the mat")]);
        // One bigram matches; no trigram or 4-gram: 100/(2·4) and 100/(4·3).
        let want = [100.0 * 3.0 / 6.0, 100.0 / 5.0, 100.0 / 8.0, 100.0 / 12.0];
        assert_eq!(bleu.precisions, want);
        let geometric_mean = (want.iter().map(|p: &f64| p.ln()).sum::<f64>() / 4.0).exp();
        assert!((bleu.score - geometric_mean).abs() < 1e-12, "{} vs {geometric_mean}", bleu.score);
    }

    #[test]
    fn short_hypotheses_pay_the_brevity_penalty_and_counts_are_clipped() {
        let bleu = corpus_bleu(&[words("the the the")], &[words("the cat is on the mat")]);
        // "the" is clipped to the reference's two; no bigram matches.
        assert_eq!(bleu.precisions[0], 100.0 * 2.0 / 3.0);
        assert_eq!(bleu.precisions[1], 100.0 / (2.0 * 2.0));
        assert!((bleu.brevity_penalty - (1.0f64 - 6.0 / 3.0).exp()).abs() < 1e-15);
        assert_eq!(corpus_bleu::<&str, &str>(&[vec![]], &[words("a b")]).score, 0.0);
        assert_eq!(corpus_bleu::<&str, &str>(&[], &[]).score, 0.0);
    }

    /// sacrebleu's own scores of seeded noisy corpora (`tests/text/make_bleu_cases.py`).
    #[test]
    fn scores_match_sacrebleu() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/text/bleu_cases.tsv");
        let text = std::fs::read_to_string(path).unwrap();
        let (mut hypotheses, mut references, mut checked) = (vec![], vec![], 0);
        for line in text.lines() {
            let (left, right) = line.split_once('\t').unwrap();
            if left == "score" {
                let want: f64 = right.parse().unwrap();
                let got = corpus_bleu(&hypotheses, &references).score;
                assert!((got - want).abs() < 1e-9, "corpus {checked}: {got} vs sacrebleu's {want}");
                hypotheses.clear();
                references.clear();
                checked += 1;
            } else {
                hypotheses.push(words(left));
                references.push(words(right));
            }
        }
        assert_eq!(checked, 7);
    }
}
