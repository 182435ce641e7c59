#!/usr/bin/env bash
# Installs what Deja needs to build, test and run on Debian 12. Run as root.
set -euo pipefail
packages=(
  # toolchain; the static C and C++ libraries link deja-skeleton (kmod/skeleton/)
  g++ cmake ninja-build pkg-config git libc6-dev libstdc++-12-dev
  # libraries
  libgtest-dev libsqlite3-dev libbtrfsutil-dev liburing-dev qt6-base-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libtesseract-dev
  # deja view: the session's X server reached over XCB, input sent with XTest
  libxcb1-dev libxcb-xtest0-dev
  # programs Deja and its tests run
  btrfs-progs util-linux mount procps python3 sqlite3
  # e2e_revive finds where an image lies on the store's disk (filefrag)
  e2fsprogs
  tesseract-ocr tesseract-ocr-eng
  xvfb xterm twm x11-apps x11-utils xfonts-base xfonts-75dpi xfonts-100dpi fonts-dejavu-core
  # tests type into X servers (the viewer's, a desktop's) with XTest
  xdotool
  # the clipboard test reads and sets clipboards on the session's and the viewer's X servers
  xclip
  # the word list display tests and the recall benchmark draw their words from, and the
  # benchmark's GTK 3 window
  wamerican python3-gi gir1.2-gtk-3.0
  # the desktop test's GTK 3 app runs on its own D-Bus session bus, with the accessibility
  # bus GTK starts beside it (a daemon its session leaves to init)
  dbus-daemon at-spi2-core
  # the recorder reads text applications expose on the session's accessibility bus with sd-bus
  libsystemd-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
