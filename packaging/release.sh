#!/usr/bin/env bash
# Build static ldapgate binaries for Linux with SHA-256 checksums.
#
#   packaging/release.sh [OUTDIR]            # default dist/
#   ARCHES=amd64 packaging/release.sh        # default "amd64 arm64"
#
# Each binary is ldapgate-VERSION-linux-ARCH: CGO_ENABLED=0 (no libc: it
# runs on any Linux), -trimpath (no build paths inside), and the commit
# recorded (-buildvcs), so `ldapgate version` tells what it was built from.
# VERSION is the tag at HEAD (git describe --exact-match), set into the
# binary; without a tag the files are named after the commit and the
# binary reports "(devel)" with the commit. OUTDIR/SHA256SUMS lists them
# (check with: cd OUTDIR && sha256sum -c SHA256SUMS).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
arches=${ARCHES:-amd64 arm64}

tag=$(git describe --tags --exact-match 2>/dev/null || true)
ldflags="-s -w"
if [[ -n $tag ]]; then
	version=$tag
	ldflags+=" -X github.com/ldapgate/ldapgate/gateway.Version=$tag"
else
	version=$(git rev-parse --short=12 HEAD)
	if [[ -n $(git status --porcelain) ]]; then
		version+=-modified
	fi
fi

mkdir -p "$out"
files=()
for arch in $arches; do
	name=ldapgate-$version-linux-$arch
	# -buildvcs=true on the command line wins over a GOFLAGS=-buildvcs=false.
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=true -ldflags "$ldflags" -o "$out/$name" ./cmd/ldapgate
	files+=("$name")
done
(cd "$out" && sha256sum "${files[@]}" >SHA256SUMS)
echo "built in $out:"
(cd "$out" && cat SHA256SUMS)
