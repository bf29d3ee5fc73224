#!/bin/sh
# Installs what scripts/with-keyring.sh needs on Debian/Ubuntu CI images (run as root).
# Fails soft: without these the keychain tests skip, they do not fail.

if command -v dbus-run-session >/dev/null 2>&1 && command -v gnome-keyring-daemon >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ci-install-keyring: not root or no apt-get; keychain tests will skip" >&2
  exit 0
fi
# @napi-rs/keyring bundles its own libdbus; libsecret-1-0 is for other Secret Service clients.
if apt-get update -qq >/dev/null 2>&1 &&
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnome-keyring dbus dbus-x11 libsecret-1-0 >/dev/null 2>&1; then
  echo "ci-install-keyring: installed gnome-keyring and dbus" >&2
else
  echo "ci-install-keyring: could not install gnome-keyring/dbus; keychain tests will skip" >&2
fi
exit 0
