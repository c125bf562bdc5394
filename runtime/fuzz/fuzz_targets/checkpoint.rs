//! Safetensors checkpoints: tensors of exactly the asked-for shapes, or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

const PARAMS: &[(&str, &[usize])] = &[("0.weight", &[3, 2]), ("0.bias", &[3]), ("1.num_batches_tracked", &[])];
const STATE: &[(&str, &[usize])] = &[("optimizer.0.weight.exp_avg", &[3, 2])];

fuzz_target!(|bytes: &[u8]| {
    if let Ok(checkpoint) = kiln_runtime::checkpoint::parse::<f32>(bytes, PARAMS, STATE) {
        let lens: Vec<usize> = checkpoint.params.iter().map(Vec::len).collect();
        assert_eq!(lens, [6, 3, 1]);
    }
});
