#!/bin/bash
# Seconds from `main` to the first finished train step with the CPU kernel cache (vendor/README.md,
# "The kernel index"): per model a cold cache, then rounds alternating a start that finds only the
# cached objects (the index entries deleted: the cache before the index) and a start with the index.
#
#   cargo build --release -p kiln-benches --example first_step && bash benches/first_step_cache.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
first_step=target/release/examples/first_step
seconds() { KILN_KERNEL_CACHE=$1 "$first_step" "$2" 2>&1 | tail -1 | awk '{print $5}'; }
for model in mlp lenet5 residual lstm reverser; do
  cache=$(mktemp -d) objects=$(mktemp -d)
  line="$model: cold $(seconds "$cache" "$model") | objects only:"
  index=""
  for _ in $(seq "$rounds"); do
    rm -rf "${objects:?}"/*
    cp "$cache"/*.o "$objects"/
    line="$line $(seconds "$objects" "$model")"
    index="$index $(seconds "$cache" "$model")"
  done
  echo "$line | index:$index"
  rm -rf "$cache" "$objects"
done
