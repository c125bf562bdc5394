//! IDX files, raw or gzipped: any bytes give an `Idx` whose data fills its dimensions, or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(idx) = kiln_runtime::data::decode_idx(bytes) {
        assert_eq!(idx.data.len(), idx.dims.iter().product::<usize>());
    }
});
