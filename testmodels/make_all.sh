#!/usr/bin/env bash
# Regenerates every committed model and data file under testmodels/ (about
# 15 minutes on 2 cores; training dominates). Needs the oracles:
# bash scripts/setup-oracles.sh. Training is seeded and deterministic on a
# given machine, but float results may differ in the last bits across CPUs,
# so regenerated models need not be byte-identical to the committed ones.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
py=/usr/bin/python3
$py fmnist/prepare_data.py
$py fmnist/train.py cnn resnet mobilenetv2 vit
$py fmnist/torch_ptq.py
$py transformer/make_encoder.py
$py edge/make_edge.py
