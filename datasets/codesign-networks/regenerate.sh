#!/usr/bin/env bash
# Regenerates the network model's training pairs in datasets/codesign-networks/pairs.parquet
# (200 synthetic networks, seed 0; not committed) without training the model.
set -euo pipefail
cd "$(dirname "$0")/../.."
python models/train_network.py --networks 200 --data-only "$@"
