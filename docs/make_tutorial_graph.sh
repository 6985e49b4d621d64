#!/usr/bin/env bash
# Regenerates docs/tutorial-layer.svg, the picture of docs/tutorial.md: runs
# examples/ptv2_step (one P-Tuning v2 training step of the demo's model),
# which writes the autograd graph behind the first encoder layer's output as
# DOT, and renders it with graphviz. Prints the step's output, which the
# tutorial quotes.
#
#   bash docs/make_tutorial_graph.sh [BUILD_DIR]     (default: build)
#
# Needs graphviz (`apt-get install graphviz`) and a configured build tree.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
command -v dot >/dev/null || { echo "make_tutorial_graph: needs graphviz's dot" >&2; exit 1; }
ninja -C "$build" examples/ptv2_step >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
OMP_NUM_THREADS=2 "$build/examples/ptv2_step" assets/tiny-bert-uncased "$tmp/layer.dot"
# node names are addresses: number them in order of appearance, so the SVG
# is the same from run to run
awk '{ while (match($0, /0x[0-9a-f]+/)) {
         a = substr($0, RSTART, RLENGTH)
         if (!(a in id)) id[a] = ++n
         $0 = substr($0, 1, RSTART - 1) "n" id[a] substr($0, RSTART + RLENGTH) }
       print }' "$tmp/layer.dot" > "$tmp/layer-numbered.dot"
dot -Tsvg "$tmp/layer-numbered.dot" -o "$tmp/layer.svg"
mv "$tmp/layer.svg" docs/tutorial-layer.svg
echo "wrote docs/tutorial-layer.svg"
