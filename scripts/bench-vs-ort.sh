#!/usr/bin/env bash
# bench-vs-ort.sh times models in ptq's engine and in ONNX Runtime 1.30 side
# by side, with the same thread count, iterations and input shapes, and
# prints a Markdown table.
#
#   scripts/bench-vs-ort.sh [--threads N] [--iters N] [--warmup N] MODEL[@name=d0,d1,...[@name=...]]...
#
# Example:
#   scripts/bench-vs-ort.sh --threads 1 testmodels/fmnist/resnet.onnx@input=1,1,28,28
#
# ptq is built from ./cmd/ptq unless PTQ_BIN names a binary. ONNX Runtime runs
# through tools/ort/bench.mjs (graph optimisation level "all", one inter-op
# thread). Both feed random inputs and report the median of --iters runs
# after --warmup untimed runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

threads=1 iters=20 warmup=3
models=()
while (($#)); do
	case $1 in
	--threads) threads=$2; shift 2 ;;
	--iters) iters=$2; shift 2 ;;
	--warmup) warmup=$2; shift 2 ;;
	-*) echo "unknown flag $1" >&2; exit 2 ;;
	*) models+=("$1"); shift ;;
	esac
done
((${#models[@]})) || { sed -n '2,14p' "$0" >&2; exit 2; }

ptq=${PTQ_BIN:-}
if [[ -z $ptq ]]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	ptq=$tmp/ptq
	go build -o "$ptq" ./cmd/ptq
fi

median() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).median_ms))'; }

echo "| model | inputs | threads | ptq median ms | ORT median ms | ptq / ORT |"
echo "|---|---|---|---|---|---|"
for spec in "${models[@]}"; do
	IFS=@ read -r -a parts <<<"$spec"
	model=${parts[0]}
	shape_args=()
	for s in "${parts[@]:1}"; do shape_args+=(--shape "$s"); done
	p=$("$ptq" bench "$model" "${shape_args[@]}" --threads "$threads" --iters "$iters" --warmup "$warmup" --json | median)
	o=$(node tools/ort/bench.mjs "$model" "${shape_args[@]}" --threads "$threads" --iters "$iters" --warmup "$warmup" | median)
	ratio=$(node -e "console.log(($p / $o).toFixed(2))")
	echo "| $model | ${parts[*]:1} | $threads | $p | $o | $ratio |"
done
