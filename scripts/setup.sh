#!/usr/bin/env bash
# Installs the Debian packages that advgnn needs to build and test, then
# configures and builds it in build/ (or the folder given as $1).
#
# Idempotent: packages already installed are not touched, and apt-get runs
# only when something is missing. Run as root (or with sudo) on Debian 12.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${1:-"$repo/build"}

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  liblua5.4-dev libcurl4-openssl-dev libcjson-dev libdnnl-dev libarchive-dev
  libspng-dev libturbojpeg0-dev libstb-dev
  clang libclang-rt-14-dev libomp-14-dev
  python3 python3-venv
  libarchive-tools xz-utils zip
  chromium nodejs
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup.sh: missing packages: ${missing[*]}" >&2
    echo "hint: run this script as root (sudo bash scripts/setup.sh)" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DADVGNN_WERROR=ON
cmake --build "$build_dir"
echo "setup.sh: built $build_dir/advgnn"
