#!/usr/bin/env bash
# The main job on the embedded defaults: install, create an archive home, ingest the
# sample batch with its item list (scans are OCR'd), list, validate every AIP, audit every
# copy, search the full text, export one DIP, write the 归档文件目录.
# Run from anywhere: bash examples/demo.sh [HOME]
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install
HOME_DIR="${1:-$(mktemp -d)/dangan-demo}"
dangan() { .venv/bin/dangan --home "$HOME_DIR" "$@"; }

dangan init --fonds-code J012 --fonds-name 振兴社区居民委员会
dangan ingest examples/sample-batch --catalog examples/sample-batch/目录.csv --category WS --year 2023
dangan list
for code in $(dangan list --json | .venv/bin/python -c 'import json,sys; print(" ".join(i["archival_code"] for i in json.load(sys.stdin)["items"]))'); do
  dangan validate "$code"
done
dangan audit --all
dangan search 低保
dangan search 檔案 --year 2023
first=$(dangan list --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["archival_code"])')
dangan show "$first"
dangan export "$first" "$HOME_DIR/dip"
dangan catalog --out "$HOME_DIR/归档文件目录.xlsx"
echo "档案库 (archive home): $HOME_DIR"
