#!/bin/sh
# screenshot.sh MAILTAP [OUT.png] — the README's picture of the HTML report:
# every capture of tests/pcaps analysed, the report rendered by headless
# chromium (1100 px wide, top of the page), palette-reduced with PIL when
# Debian's python3-pil is there so the file stays small.  Default OUT:
# docs/report.png.
set -eu
mailtap=$1
case $mailtap in /*) ;; *) mailtap=$(pwd)/$mailtap ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${2:-$root/docs/report.png}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$root/tests/pcaps" && "$mailtap" analyze -q -d "$tmp/r.db" *.pcap *.pcapng) >/dev/null 2>&1 || true
"$mailtap" report -d "$tmp/r.db" --format html -o "$tmp/report.html"
mkdir -p "$(dirname "$out")" "$tmp/profile"
timeout 120 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$tmp/profile" --hide-scrollbars --window-size=1100,1560 \
    --screenshot="$tmp/shot.png" "file://$tmp/report.html" >/dev/null 2>&1
if /usr/bin/python3 -c 'import PIL' 2>/dev/null; then
    /usr/bin/python3 - "$tmp/shot.png" "$out" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
im.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
    sys.argv[2], optimize=True)
PY
else
    cp "$tmp/shot.png" "$out"
fi
ls -l "$out"
