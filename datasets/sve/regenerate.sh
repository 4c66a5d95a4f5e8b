#!/usr/bin/env bash
# Regenerates the 10^5-workload sve dataset in datasets/sve/full (seed 0; not committed).
# Extra arguments go to the command, e.g. --workers 2 or --scheduler tcp://host:8786.
set -euo pipefail
cd "$(dirname "$0")/../.."
airchitect dataset generate --task sve --workloads 100000 --seed 0 --out datasets/sve/full "$@"
