#!/usr/bin/env bash
# kiln's developer entry point. Installs what a fresh Debian machine lacks, then builds.
#   ./kiln.sh train [epochs]   compile the MNIST MLP and train it on the bundled digits
#   ./kiln.sh test             run every test, then fuzz each file reader briefly
#   ./kiln.sh fuzz [seconds]   fuzz each file reader (default 15 s per reader)
#   ./kiln.sh backends         check the wgpu and CUDA backends against the CPU runtime
#   ./kiln.sh setup            only install the system packages
set -euo pipefail
cd "$(dirname "$0")"

# cubecl-cpu links LLVM: Debian's LLVM 22 through the offline shim in tools/llvm-shim
# (see tools/llvm-shim/README.md). wgpu runs on the CPU through Mesa's lavapipe Vulkan driver.
PACKAGES=(llvm-22-dev libpolly-22-dev libzstd-dev libz3-dev)
WGPU_PACKAGES=(mesa-vulkan-drivers libvulkan1)

# Installs the packages named (the CPU runtime's by default) that the machine lacks.
setup() {
    local wanted=("$@") missing=()
    ((${#wanted[@]})) || wanted=("${PACKAGES[@]}")
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "kiln: installing ${missing[*]}" >&2
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# The file readers' fuzz targets (runtime/fuzz). cargo-fuzz on the stable toolchain, without a
# sanitizer (the readers are safe Rust: a panic, an abort or running out of memory is the bug).
FUZZ_TARGETS=(idx cifar10 image checkpoint tsv glove)
fuzz() {
    local seconds="${1:-15}"
    command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz --version 0.13.1
    for target in "${FUZZ_TARGETS[@]}"; do
        mkdir -p "runtime/fuzz/corpus/$target"
        local regressions="" log
        [ -d "runtime/fuzz/regressions/$target" ] && regressions="fuzz/regressions/$target"
        log=$(mktemp)
        # New inputs go to corpus/ (ignored by git); seeds/ and regressions/ are only read.
        if ! (cd runtime && cargo fuzz run "$target" --sanitizer none "fuzz/corpus/$target" "fuzz/seeds/$target" $regressions \
                -- -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1) >"$log" 2>&1; then
            tail -40 "$log" >&2
            echo "kiln: fuzz target $target failed; the input is in runtime/fuzz/artifacts/$target" >&2
            exit 1
        fi
        grep -E "^stat::number_of_executed_units" "$log" | sed "s/^stat::number_of_executed_units: */fuzz $target: executions /"
        rm -f "$log"
    done
}

case "${1:-}" in
    setup) setup "${PACKAGES[@]}" "${WGPU_PACKAGES[@]}" ;;
    # kiln-models alone; its dependency on workspace-hack gives it the test build's features, so
    # `./kiln.sh test` afterwards compiles no crate a second time (.ci/feature-pins checks).
    train)
        setup
        shift
        cargo build --release -p kiln-models --example mnist_mlp
        target/release/examples/mnist_mlp "$@"
        ;;
    test) setup; cargo test --release --workspace; fuzz 15 ;;
    fuzz) shift; fuzz "$@" ;;
    # A crate of its own (tests/backends), so the GPU features stay out of the workspace's
    # build; it shares the workspace's target dir (or CARGO_TARGET_DIR's). KILN_REQUIRE_CUDA=1
    # fails without a GPU.
    backends)
        setup "${PACKAGES[@]}" "${WGPU_PACKAGES[@]}"
        target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
        (cd tests/backends && CARGO_TARGET_DIR="$target_dir" cargo test --release --locked)
        ;;
    *) echo "usage: $0 train [epochs] | test | fuzz [seconds] | backends | setup" >&2; exit 2 ;;
esac
