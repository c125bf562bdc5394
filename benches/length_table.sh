#!/usr/bin/env bash
# Issue 35's table, remeasured: its LSTM classifier (ids of 5,000 -> embedding 50 -> LSTM 128 ->
# mean over the steps -> linear 2, batch 64, Adam; `LstmLength{len}` in benches/build.rs) at
# lengths 16 to 256. Prints, per length, the train step's kernels and launches and the generated
# source (from the compile report), the seconds from start to the first finished step on a cold
# kernel cache, then (with PyTorch installed) the train step against PyTorch eager.
#   bash benches/length_table.sh [steps for the PyTorch comparison, default 50]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --workspace --example step_time --example first_step
LENGTHS=(16 32 64 128 256)
echo "| length | train kernels | train launches | generated source (bytes) | first step, cold cache (s) |"
echo "|---|---|---|---|---|"
for len in "${LENGTHS[@]}"; do
    report=$(ls -t target/release/build/kiln-benches-*/out/lstm_length"$len".report.txt | head -1)
    train=$(sed -n 3p "$report")
    kernels=$(echo "$train" | awk '{print $2}')
    launches=$(echo "$train" | awk '{print $4}')
    source=$(tail -1 "$report" | awk '{print $2}')
    cache=$(mktemp -d)
    first=$(KILN_KERNEL_CACHE="$cache" target/release/examples/first_step "lstm-len$len" | awk '{print $5}')
    rm -rf "$cache"
    echo "| $len | $kernels | $launches | $source | $first |"
done
if python3 -c "import torch" 2>/dev/null; then
    python3 benches/compare_pytorch.py "${1:-50}" "${LENGTHS[@]/#/lstm-len}"
fi
