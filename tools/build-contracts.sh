#!/usr/bin/env bash
# Builds every contract under contracts/ (each crate whose Cargo.toml declares
# crate-type = ["cdylib"], a member of the contracts/ workspace) to WebAssembly with
# Debian's rustc and cargo, and copies the module to contracts/<name>/<name>.wasm,
# which is committed so the node embeds it without this toolchain.
#
#   bash tools/build-contracts.sh           build and update the committed modules
#   bash tools/build-contracts.sh --check   build afresh and fail if a committed module
#                                           differs from the build (it must be reproducible)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

mode=build
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    -h | --help)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "build-contracts: unknown argument '$1' (use --check or nothing)" >&2
        exit 2
        ;;
esac

die() {
    echo "build-contracts: error: $*" >&2
    exit 1
}

install_hint="install the Debian packages with 'bash tools/install-contract-toolchain.sh' (apt-get install rustc cargo libstd-rust-dev-wasm32 lld-14)"
[ -x /usr/bin/rustc ] || die "/usr/bin/rustc is missing: $install_hint"
[ -x /usr/bin/cargo ] || die "/usr/bin/cargo is missing: $install_hint"
sysroot=$(/usr/bin/rustc --print sysroot)
[ -d "$sysroot/lib/rustlib/wasm32-unknown-unknown/lib" ] ||
    die "the wasm32 standard library is missing (package libstd-rust-dev-wasm32): $install_hint"
[ -e /usr/bin/rust-lld ] ||
    die "rust-lld, the wasm linker, is missing (package $(basename "$(readlink /usr/bin/rust-lld 2>/dev/null || echo lld-14)")): $install_hint"

# Only Debian's toolchain and the settings in contracts/.cargo/config.toml and the
# Cargo.toml files under contracts/ may shape the output.
export PATH="/usr/bin:$PATH"
export RUSTC=/usr/bin/rustc
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET \
    RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER CARGO_BUILD_RUSTC_WRAPPER CARGO_INCREMENTAL \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(CARGO_PROFILE_[A-Z0-9_]*\)=.*/\1/p')

target_dir="$ROOT/target/contracts"
cargo_flags=(--release --target wasm32-unknown-unknown --offline)
if [ "$mode" = check ]; then
    # A fresh build, and the committed Cargo.lock as it is.
    target_dir="$ROOT/target/contracts/check"
    rm -rf "$target_dir"
    cargo_flags+=(--locked)
fi
export CARGO_TARGET_DIR="$target_dir"

contracts=()
for manifest in contracts/*/Cargo.toml; do
    grep -Eq '^[[:space:]]*crate-type[[:space:]]*=[[:space:]]*\[[[:space:]]*"cdylib"[[:space:]]*\]' "$manifest" &&
        contracts+=("$(basename "$(dirname "$manifest")")")
done
[ "${#contracts[@]}" -gt 0 ] || die "no contract crates (crate-type = [\"cdylib\"]) under contracts/"

failed=0
for name in "${contracts[@]}"; do
    dir="contracts/$name"
    pkg=$(sed -n '/^\[package\]/,/^\[/s/^name[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n1)
    # The module is named after the crate's [lib] name, or its package name, '-' read as '_'.
    lib=$(sed -n '/^\[lib\]/,/^\[/s/^name[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n1)
    lib=${lib:-$pkg}
    lib=${lib//-/_}
    echo "build-contracts: building $dir"
    (cd contracts && /usr/bin/cargo build "${cargo_flags[@]}" -p "$pkg") ||
        die "building $dir failed (is it listed in the members of contracts/Cargo.toml? in --check mode, is contracts/Cargo.lock up to date?)"
    built="$target_dir/wasm32-unknown-unknown/release/$lib.wasm"
    [ -f "$built" ] || die "$dir built no $built"
    if grep -qaF "$ROOT" "$built"; then
        die "$built contains the path of this checkout ($ROOT), so it is not reproducible elsewhere"
    fi
    committed="$dir/$name.wasm"
    size=$(wc -c <"$built")
    if [ "$mode" = check ]; then
        if [ ! -f "$committed" ]; then
            echo "build-contracts: error: $committed is missing; run 'bash tools/build-contracts.sh' and commit it" >&2
            failed=1
        elif ! cmp -s "$built" "$committed"; then
            echo "build-contracts: error: $committed ($(wc -c <"$committed") bytes) differs from a fresh build ($size bytes)." >&2
            echo "  If you changed the contract or the SDK, run 'bash tools/build-contracts.sh' and commit $committed." >&2
            echo "  If not, the toolchain differs from the one that built it (this one: $(/usr/bin/rustc --version))." >&2
            failed=1
        else
            echo "build-contracts: $committed matches a fresh build ($size bytes)"
        fi
    else
        cp "$built" "$committed"
        chmod 0644 "$committed"
        echo "build-contracts: wrote $committed ($size bytes, sha256 $(sha256sum "$committed" | cut -c1-16)...)"
    fi
done
exit "$failed"
