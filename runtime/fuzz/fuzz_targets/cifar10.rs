//! CIFAR-10 binary batches: whole records with labels in 0..10, or an error that appends nothing.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let (mut features, mut labels) = (vec![], vec![]);
    match kiln_runtime::images::parse_cifar10(bytes, &mut features, &mut labels) {
        Ok(()) => assert!(features.len() == labels.len() * 3072 && labels.iter().all(|&l| l < 10)),
        Err(_) => assert!(features.is_empty() && labels.is_empty()),
    }
});
