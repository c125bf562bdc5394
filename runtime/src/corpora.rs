//! Readers of the course's text files: labelled sentences in SST-2's TSV form, sentence pairs
//! in Tatoeba's, and pretrained word vectors in GloVe's text form. A malformed line is an
//! [`Error::Malformed`] naming the file and the line (counted from 1); nothing panics.

use crate::text::Vocab;
use crate::Error;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// `path` opened for reading by lines.
fn open(path: &Path) -> Result<BufReader<std::fs::File>, Error> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    Ok(BufReader::new(file))
}

/// One sentence and its class, as SST-2 gives them.
#[derive(Clone, Debug, PartialEq)]
pub struct Labelled {
    /// The sentence as written.
    pub sentence: String,
    /// Its class (SST-2: 0 negative, 1 positive).
    pub label: u32,
}

/// A sentence and its translation, as Tatoeba's pairs give them.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// The sentence in the source language.
    pub source: String,
    /// Its translation.
    pub target: String,
}

/// Reads `sentence<TAB>label` lines after one header line, as SST-2's `train.tsv` and
/// `dev.tsv` hold them. A line without a tab, with an empty sentence or with a label that is
/// not a non-negative integer is an error naming its line. Blank lines are skipped.
pub fn read_labelled(path: &Path) -> Result<Vec<Labelled>, Error> {
    labelled_from(open(path)?, path)
}

/// [`read_labelled`] of text from `source`, which errors name `path`.
pub fn labelled_from(source: impl BufRead, path: &Path) -> Result<Vec<Labelled>, Error> {
    let mut sentences = vec![];
    for_each_line(source, path, 1, |line| {
        let (sentence, label) = line.rsplit_once('\t').ok_or("no tab between the sentence and its label")?;
        let label = label.trim().parse().map_err(|_| format!("the label `{label}` is not a non-negative integer"))?;
        sentences.push(Labelled { sentence: non_empty(sentence, "sentence")?, label });
        Ok(())
    })?;
    Ok(sentences)
}

/// Reads `source<TAB>target` lines (Tatoeba's pairs; further columns, such as the
/// attribution of `fra.txt`, are ignored). A line with fewer than two columns or an empty
/// sentence is an error naming its line. Blank lines are skipped; there is no header.
pub fn read_pairs(path: &Path) -> Result<Vec<Pair>, Error> {
    pairs_from(open(path)?, path)
}

/// [`read_pairs`] of text from `source`, which errors name `path`.
pub fn pairs_from(source: impl BufRead, path: &Path) -> Result<Vec<Pair>, Error> {
    let mut pairs = vec![];
    for_each_line(source, path, 0, |line| {
        let mut columns = line.split('\t');
        let (Some(source), Some(target)) = (columns.next(), columns.next()) else {
            return Err("no tab between the sentence and its translation".into());
        };
        pairs.push(Pair { source: non_empty(source, "source sentence")?, target: non_empty(target, "translation")? });
        Ok(())
    })?;
    Ok(pairs)
}

/// What the rows of a pretrained table hold for the vocabulary's tokens the file lacks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Missing {
    /// Zeros, as torchtext's `Vectors` gives them.
    Zeros,
    /// Normal values of this standard deviation, seeded (the same rows for one seed).
    Normal {
        /// Seeds the rows.
        seed: u64,
        /// Their standard deviation.
        std: f64,
    },
}

/// Pretrained vectors aligned with a vocabulary: row `i` of `table` is token `i`'s.
#[derive(Clone, Debug, PartialEq)]
pub struct Pretrained {
    /// The embedding's `[rows, dim]` weight, row-major: what its `set_parameter` takes.
    pub table: Vec<f32>,
    /// The vocabulary's tokens the file has a vector for.
    pub found: usize,
}

/// Reads GloVe's text form, `word v1 ... vd` per line (the word ends at the first space), into
/// an embedding weight of `[rows, dim]` (its declared shape, `rows` at least `vocab.len()`):
/// each of `vocab`'s tokens gets the file's vector (the first, where a word repeats), and
/// every other row `missing`. Words outside the vocabulary are skipped. A line whose vector
/// does not have `dim` values, or has a value that is not a finite number, is an error naming
/// its line.
pub fn read_glove(path: &Path, vocab: &Vocab, shape: [usize; 2], missing: Missing) -> Result<Pretrained, Error> {
    glove_from(open(path)?, path, vocab, shape, missing)
}

/// [`read_glove`] of text from `source`, which errors name `path`.
pub fn glove_from(
    source: impl BufRead,
    path: &Path,
    vocab: &Vocab,
    [rows, dim]: [usize; 2],
    missing: Missing,
) -> Result<Pretrained, Error> {
    if rows < vocab.len() {
        return Err(Error::Invalid(format!("a table of {rows} rows cannot hold a vocabulary of {}", vocab.len())));
    }
    let mut table = match missing {
        Missing::Zeros => vec![0.0; rows * dim],
        Missing::Normal { seed, std } => crate::init::normal(seed, 0, rows * dim, 0.0, std),
    };
    let mut seen = vec![false; vocab.len()];
    for_each_line(source, path, 0, |line| {
        let (word, values) = line.split_once(' ').ok_or("a word without a vector")?;
        let mut row = Vec::with_capacity(dim);
        for (i, field) in values.split_whitespace().enumerate() {
            let value: f32 =
                field.parse().map_err(|_| format!("value {} of `{word}`, `{field}`, is not a number", i + 1))?;
            if !value.is_finite() {
                return Err(format!("value {} of `{word}` is not finite", i + 1));
            }
            row.push(value);
        }
        if row.len() != dim {
            return Err(format!("`{word}` has {} values, expected {dim}", row.len()));
        }
        let id = vocab.id(word) as usize;
        if vocab.token(id) == Some(word) && !seen[id] {
            seen[id] = true;
            table[id * dim..][..dim].copy_from_slice(&row);
        }
        Ok(())
    })?;
    Ok(Pretrained { table, found: seen.iter().filter(|&&s| s).count() })
}

/// Calls `f` on each non-blank line of `source` after the first `header` lines, without its
/// line ending; an error of `f` becomes [`Error::Malformed`] naming `path` and the line.
fn for_each_line(
    source: impl BufRead,
    path: &Path,
    header: usize,
    mut f: impl FnMut(&str) -> Result<(), String>,
) -> Result<(), Error> {
    let malformed = |reason: String| Error::Malformed { path: path.to_path_buf(), reason };
    for (i, line) in source.lines().enumerate() {
        let line = line.map_err(|e| malformed(format!("line {}: {e}", i + 1)))?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if i < header || line.trim().is_empty() {
            continue;
        }
        f(line).map_err(|reason| malformed(format!("line {}: {reason}", i + 1)))?;
    }
    Ok(())
}

/// `text` as an owned string, or an error naming it (`what`) where it is empty or blank.
fn non_empty(text: &str, what: &str) -> Result<String, String> {
    match text.trim().is_empty() {
        true => Err(format!("an empty {what}")),
        false => Ok(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tokenize;

    /// `text` written to a fresh file named `name` in the temp dir.
    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("kiln-corpora-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The message of `result`'s error, which must name `path`.
    fn error<T: std::fmt::Debug>(result: Result<T, Error>, path: &Path) -> String {
        let message = result.unwrap_err().to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        message
    }

    #[test]
    fn reads_labelled_sentences_after_the_header() {
        let path = file("sst.tsv", "sentence\tlabel\nit 's a charming journey .\t1\r\n\nwell , dull .\t0\n");
        let read = read_labelled(&path).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], Labelled { sentence: "it 's a charming journey .".into(), label: 1 });
        assert_eq!(read[1].label, 0);
    }

    #[test]
    fn malformed_labelled_lines_name_their_line() {
        for (text, reason) in [
            ("sentence\tlabel\nfine\t1\nno tab here\n", "line 3: no tab"),
            ("sentence\tlabel\nfine\tpositive\n", "line 2: the label `positive` is not"),
            ("sentence\tlabel\nfine\t-1\n", "line 2: the label `-1`"),
            ("sentence\tlabel\n \t1\n", "line 2: an empty sentence"),
        ] {
            let path = file("bad.tsv", text);
            let message = error(read_labelled(&path), &path);
            assert!(message.contains(reason), "{message}");
        }
        let missing = Path::new("/nonexistent/sst.tsv");
        error(read_labelled(missing), missing);
    }

    #[test]
    fn reads_pairs_ignoring_attribution() {
        let path = file("fra.txt", "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org\nHi.\tSalut !\n");
        let pairs = read_pairs(&path).unwrap();
        assert_eq!(
            pairs,
            [
                Pair { source: "Go.".into(), target: "Va !".into() },
                Pair { source: "Hi.".into(), target: "Salut !".into() }
            ]
        );
        let path = file("bad.txt", "Go.\tVa !\nHi.\n");
        assert!(error(read_pairs(&path), &path).contains("line 2: no tab"));
        let path = file("bad.txt", "Go.\t\n");
        assert!(error(read_pairs(&path), &path).contains("line 1: an empty translation"));
    }

    #[test]
    fn glove_rows_follow_the_vocabulary() {
        let docs = [tokenize("the cat the dog")];
        let vocab = Vocab::build(docs.iter().map(|d| d.as_slice()), 1, &[]);
        // <pad>, <unk>, the, cat, dog: "dog" is missing from the file, "bird" is not in the vocab.
        let path = file("glove.txt", "the 0.5 -1 2\nbird 9 9 9\ncat 1e-1 0 -0.25\nthe 7 7 7\n");
        let zeros = read_glove(&path, &vocab, [5, 3], Missing::Zeros).unwrap();
        assert_eq!(zeros.found, 2);
        let row = |t: &Pretrained, token: &str| t.table[vocab.id(token) as usize * 3..][..3].to_vec();
        assert_eq!(row(&zeros, "the"), [0.5, -1.0, 2.0], "the first vector of a repeated word");
        assert_eq!(row(&zeros, "cat"), [0.1, 0.0, -0.25]);
        assert_eq!(row(&zeros, "dog"), [0.0; 3]);
        assert_eq!(row(&zeros, "<pad>"), [0.0; 3]);
        let random = read_glove(&path, &vocab, [6, 3], Missing::Normal { seed: 7, std: 0.5 }).unwrap();
        assert_eq!(row(&random, "the"), [0.5, -1.0, 2.0]);
        assert!(row(&random, "dog").iter().all(|&x| x != 0.0 && x.abs() < 3.0));
        assert!(random.table[15..].iter().all(|&x| x != 0.0), "the row past the vocabulary");
        let small = read_glove(&path, &vocab, [4, 3], Missing::Zeros).unwrap_err().to_string();
        assert_eq!(small, "a table of 4 rows cannot hold a vocabulary of 5");
        assert_eq!(random, read_glove(&path, &vocab, [6, 3], Missing::Normal { seed: 7, std: 0.5 }).unwrap());
    }

    #[test]
    fn malformed_glove_lines_name_their_line() {
        let vocab = Vocab::build(std::iter::empty(), 1, &[]);
        for (text, reason) in [
            ("the 1 2 3\ncat 1 2\n", "line 2: `cat` has 2 values, expected 3"),
            ("the 1 2 3\ncat 1 x 3\n", "line 2: value 2 of `cat`, `x`, is not a number"),
            ("the 1 NaN 3\n", "line 1: value 2 of `the` is not finite"),
            ("lonely\n", "line 1: a word without a vector"),
        ] {
            let path = file("glove_bad.txt", text);
            let message = error(read_glove(&path, &vocab, [5, 3], Missing::Zeros), &path);
            assert!(message.contains(reason), "{message}");
        }
    }
}
