//! PNG/JPEG decoding and resizing: exactly channels x height x width values in [0, 1], or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(pixels) = kiln_runtime::images::decode_image(bytes, 3, 8, 8) {
        assert!(pixels.len() == 3 * 8 * 8 && pixels.iter().all(|p| (0.0..=1.0).contains(p)));
    }
});
