#!/bin/sh
# Runs a command inside a private D-Bus session with an unlocked, throwaway gnome-keyring, so the
# keychain tests exercise a real Secret Service without touching the user's own keyring.
#   sh scripts/with-keyring.sh npx vitest run test/unit/secrets-keychain.test.ts
# Without dbus-run-session/gnome-keyring-daemon it runs the command as is (keychain tests skip).
# Install them with scripts/ci-install.sh.

if [ "$#" -eq 0 ]; then
  echo "usage: with-keyring.sh COMMAND [ARG...]" >&2
  exit 2
fi

if ! command -v dbus-run-session >/dev/null 2>&1 || ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
  echo "with-keyring: no dbus-run-session/gnome-keyring-daemon; keychain tests will skip" >&2
  exec "$@"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lumen-keyring.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -m 700 "$tmp/data" "$tmp/runtime"

# The temporary XDG dirs apply to the whole session, so the daemon (and any copy D-Bus might
# activate) keeps its keyring files and control socket in $tmp. The command gets the caller's
# values back: only D-Bus needs to differ for it.
XDG_DATA_HOME="$tmp/data" XDG_RUNTIME_DIR="$tmp/runtime" dbus-run-session -- sh -c '
  # --unlock with a password on stdin creates and unlocks the "login" collection, which becomes the
  # default one. Without it the daemon has no default collection and every write fails with
  # "no result found".
  if printf %s lumen-throwaway-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null; then
    # Tells the keychain tests they may write: this keyring is throwaway.
    export LUMEN_TEST_KEYRING=1
  else
    echo "with-keyring: gnome-keyring-daemon did not start; keychain tests will skip" >&2
  fi
  if [ "$1" = yes ]; then export XDG_DATA_HOME="$2"; else unset XDG_DATA_HOME; fi
  if [ "$3" = yes ]; then export XDG_RUNTIME_DIR="$4"; else unset XDG_RUNTIME_DIR; fi
  shift 4
  exec "$@"
' sh "${XDG_DATA_HOME+yes}" "${XDG_DATA_HOME-}" "${XDG_RUNTIME_DIR+yes}" "${XDG_RUNTIME_DIR-}" "$@"
status=$?
exit "$status"
