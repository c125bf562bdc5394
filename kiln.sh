#!/usr/bin/env bash
# kiln's developer entry point. Installs what a fresh Debian machine lacks, then builds.
#   ./kiln.sh train [epochs]   compile the MNIST MLP and train it on the bundled digits
#   ./kiln.sh test             run every test
#   ./kiln.sh setup            only install the system packages
set -euo pipefail
cd "$(dirname "$0")"

# cubecl-cpu links LLVM: Debian's LLVM 22 through the offline shim in tools/llvm-shim
# (see tools/llvm-shim/README.md). wgpu runs on the CPU through Mesa's lavapipe Vulkan driver.
PACKAGES=(llvm-22-dev libpolly-22-dev libzstd-dev libz3-dev mesa-vulkan-drivers libvulkan1)

setup() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
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

case "${1:-}" in
    setup) setup ;;
    # `--features wgpu`: the same feature set as the test build, so both commands share one
    # CubeCL build (and KILN_DEVICE=wgpu works).
    train) setup; shift; cargo run --release -p kiln-models --features wgpu --example mnist_mlp -- "$@" ;;
    test) setup; cargo test --release --workspace ;;
    *) echo "usage: $0 train [epochs] | test | setup" >&2; exit 2 ;;
esac
