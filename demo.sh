#!/usr/bin/env bash
# Fresh machine -> installed packages, a release build, and the main job.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $(cat .ci/packages) >/dev/null
[ -d build ] || meson setup build >/dev/null
ninja -C build
# Until the bundled pretrained model lands, the main job is the autograd
# demo: an MLP learns two spirals, then every op's gradient is checked.
./build/examples/mlp
./build/apps/ptune gradcheck
