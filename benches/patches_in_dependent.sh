#!/usr/bin/env bash
# The MNIST MLP and LeNet-5 train steps in a crate outside kiln's workspace, built two ways:
#   patched:  with kiln's [patch.crates-io] section and Cargo.lock, as examples/app is;
#   upstream: without them, resolved afresh from crates.io, as a new dependent is by default.
# Both crates run benches/examples/step_time.rs as their main; the two binaries alternate for ROUNDS rounds
# and each line prints `variant model min median max` in milliseconds.
#
#   bash benches/patches_in_dependent.sh [steps]     (ROUNDS=4 by default)
#
# The crates live in target/patches-in-dependent (under kiln's root, so kiln's .cargo/config.toml
# points CubeCL at the offline LLVM shim), each with its own target dir: the first run builds
# the CubeCL stack twice (about 20 minutes each on 2 cores).
set -euo pipefail
kiln=$(cd "$(dirname "$0")/.." && pwd)
steps=${1:-2000}
rounds=${ROUNDS:-4}
work=$kiln/target/patches-in-dependent

manifest() {
    cat <<EOF
[package]
name = "kiln-dependent-$1"
version = "0.1.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
kiln-benches = { path = "$kiln/benches" }
kiln-models = { path = "$kiln/models" }
kiln-zoo = { path = "$kiln/models/zoo" }
kiln-runtime = { path = "$kiln/runtime" }

[profile.release]
debug = false
codegen-units = 16
EOF
    if [ "$1" = patched ]; then
        echo
        sed -n '/^\[patch.crates-io\]/,/^$/p' "$kiln/Cargo.toml" | sed "s|path = \"|path = \"$kiln/|"
    fi
}

for variant in patched upstream; do
    dir=$work/$variant
    mkdir -p "$dir/src"
    manifest $variant >"$dir/Cargo.toml"
    # The example as the crate's main, less its inner doc comment (which include! refuses).
    grep -v '^//!' "$kiln/benches/examples/step_time.rs" >"$dir/src/main.rs"
    if [ ! -f "$dir/Cargo.lock" ]; then
        if [ $variant = patched ]; then cp "$kiln/Cargo.lock" "$dir/"; else (cd "$dir" && cargo generate-lockfile); fi
    fi
    (cd "$dir" && CARGO_TARGET_DIR=$dir/target cargo build --release)
done
for variant in patched upstream; do
    printf '%s resolves: ' $variant >&2
    awk -F'"' '/^name = /{n=$2} /^version = /{v=$2} /^source = /{s=1}
        /^$/{if (n ~ /^cubecl-(cpu|common|runtime|llvm)$/) printf "%s %s%s; ", n, v, (s ? "" : " (path)"); n=""; s=0}' \
        "$work/$variant/Cargo.lock" >&2
    echo >&2
done

for round in $(seq "$rounds"); do
    for model in mlp lenet5; do
        for variant in patched upstream; do
            echo "$variant $model $("$work/$variant/target/release/kiln-dependent-$variant" $model "$steps")"
        done
    done
done
