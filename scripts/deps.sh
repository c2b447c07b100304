# Sourced by scripts/test.sh and .ci/run: install-if-missing helpers. Each
# checks first, so a machine that has everything installs nothing and never
# needs root.

# apt_install PKG...: Debian packages, as root or through sudo.
apt_install() {
	local sudo_cmd=""
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo_cmd="sudo"
		else
			echo "need root or sudo to install: $*" >&2
			return 1
		fi
	fi
	echo "--- installing $* (apt-get)"
	if [ -z "${_apt_updated:-}" ]; then
		DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get update -qq
		_apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$@"
}

# need_cmd CMD PKG: install Debian package PKG when CMD is not on PATH.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 || apt_install "$2"
}

# need_cc: a C compiler for cgo (the race detector).
need_cc() {
	command -v "$(go env CC)" >/dev/null 2>&1 || apt_install gcc libc6-dev
}

# need_node: Node.js and npm (Debian's when missing), for the npm projects
# sdk/js and tests/browser.
need_node() {
	command -v node >/dev/null 2>&1 || apt_install nodejs
	command -v npm >/dev/null 2>&1 || apt_install npm
}

# need_versitygw: the S3-compatible server internal/s3test starts (the
# Versity S3 gateway, built from the Go module proxy into GOPATH/bin; a few
# minutes the first time, nothing afterwards). Keep the version in step with
# internal/s3test.Version.
need_versitygw() {
	local bin
	bin="$(go env GOPATH)/bin/versitygw"
	command -v versitygw >/dev/null 2>&1 || [ -x "$bin" ] && return 0
	echo "--- installing versitygw (go install)"
	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
}
