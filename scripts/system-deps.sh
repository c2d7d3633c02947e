#!/usr/bin/env bash
# Debian packages the test suite needs (real tools, no mocks). Installs only what is missing;
# needs root (CI runs as root). Usage: scripts/system-deps.sh
set -euo pipefail
# poppler-utils: pdftotext/pdftoppm (reports); chromium: Playwright browser tests (never
# `playwright install`); dcmtk + dicom3tools: DICOM SR test inputs (xml2dsr) and IOD checks
# (dciodvfy); postgresql: the private test cluster (already in the base image).
PACKAGES=(poppler-utils chromium dcmtk dicom3tools postgresql)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing Debian packages: ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
