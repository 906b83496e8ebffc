#!/usr/bin/env bash
# Installs the Debian packages that build the WebAssembly contracts under contracts/:
# rustc and cargo (Debian's, which ship a wasm32 standard library, unlike a rustup
# toolchain without network access), libstd-rust-dev-wasm32, and the lld that Debian's
# rustc links wasm32 modules with (/usr/bin/rust-lld points at it).
#
# Does nothing when everything is present. Needs root (or sudo) to install.
set -euo pipefail

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

apt_install() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then
            sudo=(sudo)
        else
            echo "install-contract-toolchain: need root to run apt-get install $*" >&2
            exit 1
        fi
    fi
    if [ -z "${APT_UPDATED:-}" ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@"
}

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "install-contract-toolchain: not a Debian system; install rustc, cargo," \
        "libstd-rust-dev-wasm32 and lld from your distribution" >&2
    exit 1
fi

missing=()
for pkg in rustc cargo libstd-rust-dev-wasm32; do
    installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-contract-toolchain: installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

# rustc links wasm32 with rust-lld, a link to the lld of the LLVM it was built with
# (lld-14 for rustc 1.63): install the package that provides its target.
if [ ! -e /usr/bin/rust-lld ]; then
    lld=$(readlink /usr/bin/rust-lld || true)
    lld=${lld##*/}
    lld=${lld:-lld}
    echo "install-contract-toolchain: installing $lld (the linker behind rust-lld)"
    apt_install "$lld"
fi

echo "install-contract-toolchain: $(/usr/bin/rustc --version), $(/usr/bin/cargo --version), wasm32 std and rust-lld present"
