#!/usr/bin/env bash
# Regenerates the 10^5-workload codesign dataset in datasets/codesign/full (seed 0; not committed),
# and the 10^5-workload EDP-labelled one in datasets/codesign/full-edp.
# Extra arguments go to the command, e.g. --workers 2 or --scheduler tcp://host:8786.
# Interrupted runs resume from the shards already written.
set -euo pipefail
cd "$(dirname "$0")/../.."
airchitect dataset generate --task codesign --workloads 100000 --seed 0 --out datasets/codesign/full "$@"
airchitect dataset generate --task codesign --workloads 100000 --seed 0 --objective edp --out datasets/codesign/full-edp "$@"
