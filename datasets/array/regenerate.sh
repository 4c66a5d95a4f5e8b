#!/usr/bin/env bash
# Regenerates the 10^5-workload array dataset in datasets/array/full (seed 0; not committed).
# Extra arguments go to the command, e.g. --workers 2 or --scheduler tcp://host:8786.
set -euo pipefail
cd "$(dirname "$0")/../.."
airchitect dataset generate --task array --workloads 100000 --seed 0 --out datasets/array/full "$@"
