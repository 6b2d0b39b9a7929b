#!/usr/bin/env bash
# Package the workflows as flytekit does for `flytectl register files`:
#   bash package.sh && batchmap register files pkg.tgz maps.tgz -p flytesnacks -d development --version v1
# pkg.tgz: wf.py (a legacy map task); maps.tgz: maps.py (flytekit.map_task, files, dataclasses).
set -euo pipefail
cd "$(dirname "$0")"
pyflyte --pkgs wf package --image "${IMAGE:-ghcr.io/example/batchmap-flyte:v1}" -f -o pkg.tgz
pyflyte --pkgs maps package --image "${IMAGE:-ghcr.io/example/batchmap-flyte:v1}" -f -o maps.tgz
