//! GloVe's text form: a finite table of exactly the asked-for shape, or an error naming the
//! line.
#![no_main]
use kiln_runtime::corpora::{glove_from, Missing};
use kiln_runtime::text::Vocab;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|bytes: &[u8]| {
    let words: Vec<String> = ["the", "cat", "sat"].iter().map(|w| w.to_string()).collect();
    let vocab = Vocab::build([&words[..]], 1, &[]);
    let shape = [vocab.len() + 1, 3];
    if let Ok(pretrained) = glove_from(bytes, Path::new("fuzz.txt"), &vocab, shape, Missing::Zeros) {
        assert_eq!(pretrained.table.len(), shape[0] * shape[1]);
        assert!(pretrained.table.iter().all(|v| v.is_finite()) && pretrained.found <= vocab.len());
    }
});
