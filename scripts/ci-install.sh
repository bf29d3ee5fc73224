#!/bin/sh
# Installs what the tests use from Debian/Ubuntu packages on CI images (run as root): a Secret Service for the
# keychain tests (scripts/with-keyring.sh) and Chromium for the console's browser tests.
# Fails soft: without them those tests skip (with the reason), they do not fail.

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ci-install: not root or no apt-get; keychain and browser tests will skip where their tools are missing" >&2
  exit 0
fi
updated=
update() {
  [ -n "$updated" ] || apt-get update -qq >/dev/null 2>&1
  updated=1
}

if command -v dbus-run-session >/dev/null 2>&1 && command -v gnome-keyring-daemon >/dev/null 2>&1; then
  :
# @napi-rs/keyring bundles its own libdbus; libsecret-1-0 is for other Secret Service clients.
elif update && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnome-keyring dbus dbus-x11 libsecret-1-0 >/dev/null 2>&1; then
  echo "ci-install: installed gnome-keyring and dbus" >&2
else
  echo "ci-install: could not install gnome-keyring/dbus; keychain tests will skip" >&2
fi

# The console's browser tests drive /usr/bin/chromium with playwright-core (no browser download).
if [ -x /usr/bin/chromium ]; then
  :
elif update && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; then
  echo "ci-install: installed chromium" >&2
else
  echo "ci-install: could not install chromium; the console's browser tests will skip" >&2
fi
# The PostgreSQL tests run initdb/pg_ctl from Debian's postgresql package (as its postgres user when run as root).
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  :
elif update && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1; then
  echo "ci-install: installed postgresql" >&2
else
  echo "ci-install: could not install postgresql; the PostgreSQL tests will skip" >&2
fi
exit 0
