#!/usr/bin/env bash
# Package the workflow as flytekit does for `flytectl register files`:
#   bash package.sh && batchmap register files pkg.tgz -p flytesnacks -d development --version v1
set -euo pipefail
cd "$(dirname "$0")"
pyflyte --pkgs wf package --image "${IMAGE:-ghcr.io/example/batchmap-flyte:v1}" -f -o pkg.tgz
