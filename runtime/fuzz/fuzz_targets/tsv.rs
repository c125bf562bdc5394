//! SST-2 and Tatoeba TSV: sentences that are never blank, each with its label or translation,
//! or an error naming the line.
#![no_main]
use kiln_runtime::corpora::{labelled_from, pairs_from};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|bytes: &[u8]| {
    let path = Path::new("fuzz.tsv");
    if let Ok(sentences) = labelled_from(bytes, path) {
        assert!(sentences.iter().all(|s| !s.sentence.trim().is_empty()));
    }
    if let Ok(pairs) = pairs_from(bytes, path) {
        assert!(pairs.iter().all(|p| !p.source.trim().is_empty() && !p.target.trim().is_empty()));
    }
});
