#!/bin/sh
# Debian's Chromium for the browser tests (`make test-e2e` points the harness's CHROMIUM
# here). Even with the harness's --disable-background-networking and
# --disable-component-update, a fresh profile asks accounts.google.com for the Google
# accounts in its cookie jar (ListAccounts) and update.googleapis.com for component
# updates. These two switches send both to a closed port on loopback instead: the tests
# stay on this machine, and `make test`'s loopback check (scripts/in-loopback-netns.sh)
# does not see them as leaks.
exec /usr/bin/chromium \
  --gaia-url=http://127.0.0.1:9 \
  --component-updater=url-source=http://127.0.0.1:9/ \
  --autofill-server-url=http://127.0.0.1:9/ \
  "$@"
