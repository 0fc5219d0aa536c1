#!/bin/sh
# Install the kozo edge daemon on Raspberry Pi OS (run as root).
#
#   sudo sh deploy/edge/install.sh [PACKAGE]   # PACKAGE: a wheel, a path, or "kozo" (default)
#   sudo -u kozo-edge /opt/kozo-edge/venv/bin/kozo edge enroll \
#        --hub https://hub.example.org --code CODE --config /etc/kozo/edge.toml
#   sudo systemctl enable --now kozo-edge
set -eu

PACKAGE="${1:-kozo}"
PREFIX=/opt/kozo-edge
STATE=/var/lib/kozo-edge
HERE="$(cd "$(dirname "$0")" && pwd)"

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo sh $0)" >&2
    exit 2
fi

apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-dev

id kozo-edge >/dev/null 2>&1 || \
    useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin kozo-edge
install -d -o kozo-edge -g kozo-edge -m 0700 "$STATE" "$STATE/spool"
install -d -m 0755 /etc/kozo "$PREFIX"

python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install --upgrade pip
"$PREFIX/venv/bin/pip" install "${PACKAGE}[edge]"

if [ ! -f /etc/kozo/edge.toml ]; then
    cat > /etc/kozo/edge.toml <<'TOML'
# kozo edge settings: `kozo edge run --help`; every key is described in edge/config.py
[watch]
folders = ["/srv/instrument"]   # where the instrument PC's files appear
mode = "watch"                  # "scan" for a USB gadget image (inotify cannot see it)
settle_seconds = 2.0
scan_interval_seconds = 300

[spool]
directory = "/var/lib/kozo-edge/spool"
cap_bytes = 8_000_000_000

[hub]
url = "https://hub.example.org"
credential = "/var/lib/kozo-edge/credential.json"

[quick_check]
model = "hub"

[status]
port = 8787
TOML
    echo "wrote /etc/kozo/edge.toml: set [watch] folders and [hub] url"
fi

install -m 0644 "$HERE/kozo-edge.service" /etc/systemd/system/kozo-edge.service
systemctl daemon-reload
echo "installed. Next: enrol (see the top of this script), then systemctl enable --now kozo-edge"
