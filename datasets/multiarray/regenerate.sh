#!/usr/bin/env bash
# Regenerates the 10^5-workload multiarray dataset in datasets/multiarray/full (seed 0; not committed).
# Extra arguments go to the command, e.g. --workers 2 or --scheduler tcp://host:8786.
set -euo pipefail
cd "$(dirname "$0")/../.."
airchitect dataset generate --task multiarray --workloads 100000 --seed 0 --out datasets/multiarray/full "$@"
