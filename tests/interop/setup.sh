#!/usr/bin/env bash
# Creates the virtual environments of the interop tests (one per client stack: YiriMirai,
# nonebot2 2.3 with the mirai and OneBot adapters, aiocqhttp, and the QQ official SDKs with
# nonebot2 2.5 pin conflicting versions of shared libraries; Playwright drives the console in
# the system Chromium, no browser downloaded). A venv is rebuilt only when its
# requirements file changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
for name in yiri nonebot aiocqhttp qq console; do
  venv=.venv/interop-$name
  req=tests/interop/requirements-$name.txt
  stamp=$venv/.requirements
  if [ -x "$venv/bin/python" ] && cmp -s "$req" "$stamp"; then
    continue
  fi
  echo "interop: creating $venv from $req"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
done
