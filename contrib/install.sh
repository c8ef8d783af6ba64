#!/bin/sh
# Install peercloud system-wide: the binary, the systemd units, the man page
# and the shell completions, and /etc/peercloud for the network files.
#
#   go build -o peercloud ./cmd/peercloud && sudo contrib/install.sh
#
# Environment: BINARY (default ./peercloud), DESTDIR (staging root, default
# none), PREFIX (default /usr), UNITDIR (default $PREFIX/lib/systemd/system),
# NO_RELOAD=1 to skip `systemctl daemon-reload`.
set -eu

BINARY=${BINARY:-./peercloud}
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
here=$(cd "$(dirname "$0")" && pwd)

if [ ! -x "$BINARY" ]; then
	echo "install.sh: $BINARY is not an executable; build it first (go build -o peercloud ./cmd/peercloud)" >&2
	exit 1
fi

install -d "$DESTDIR$PREFIX/bin" "$DESTDIR$UNITDIR" "$DESTDIR$PREFIX/share/man/man1" \
	"$DESTDIR$PREFIX/share/bash-completion/completions" "$DESTDIR$PREFIX/share/zsh/vendor-completions" \
	"$DESTDIR$PREFIX/share/fish/vendor_completions.d"
install -d -m 0750 "$DESTDIR/etc/peercloud"

install -m 0755 "$BINARY" "$DESTDIR$PREFIX/bin/peercloud"
sed "s|/usr/bin/peercloud|$PREFIX/bin/peercloud|g" "$here/systemd/peercloud@.service" >"$DESTDIR$UNITDIR/peercloud@.service"
chmod 0644 "$DESTDIR$UNITDIR/peercloud@.service"
install -m 0644 "$here/systemd/peercloud.target" "$DESTDIR$UNITDIR/peercloud.target"

"$BINARY" man | gzip -9n >"$DESTDIR$PREFIX/share/man/man1/peercloud.1.gz"
"$BINARY" completion bash >"$DESTDIR$PREFIX/share/bash-completion/completions/peercloud"
"$BINARY" completion zsh >"$DESTDIR$PREFIX/share/zsh/vendor-completions/_peercloud"
"$BINARY" completion fish >"$DESTDIR$PREFIX/share/fish/vendor_completions.d/peercloud.fish"

if [ -z "$DESTDIR" ] && [ -z "${NO_RELOAD:-}" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl daemon-reload
fi
echo "installed; put a network in /etc/peercloud/NAME.net and run: systemctl enable --now peercloud@NAME"
