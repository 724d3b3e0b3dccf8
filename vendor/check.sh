#!/usr/bin/env bash
#! Rebuilds each vendored crate from its crates.io release plus its patch and
#! compares the result with the vendored copy, so what is vendored is exactly
#! "the release + this patch" and nothing else.
#
#   vendor/check.sh              check every vendored crate (exit 1 on a difference,
#                                3 when a release cannot be fetched)
#   vendor/check.sh --write NAME  regenerate NAME.patch from vendor/NAME
#
# A vendored crate is a directory vendor/NAME holding the release's files less
# the ones no build reads (LEFT_OUT below), with its changes, plus a README.md
# of ours; vendor/NAME.patch is the unified diff from the release to it.
# The release is fetched through cargo (the ordinary registry client), so the
# check needs what `cargo fetch` needs and nothing else (tar, git, diff).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
LEFT_OUT=(.cargo-ok .cargo_vcs_info.json Cargo.lock Cargo.toml.orig benches examples tests)

version_of() { # the version in a vendored crate's Cargo.toml
  awk -F'"' '/^version = / { print $2; exit }' "$here/$1/Cargo.toml"
}

# released NAME VERSION DEST: unpack the released crate into DEST, pruned.
released() {
  local name=$1 version=$2 dest=$3 work
  work=$(mktemp -d)
  mkdir -p "$work/src"
  : >"$work/src/lib.rs"
  printf '[package]\nname = "release-fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = { version = "=%s", default-features = false }\n' \
    "$name" "$version" >"$work/Cargo.toml"
  if ! (cd "$work" && "${CARGO:-cargo}" fetch --quiet); then
    echo "vendor/check.sh: cannot fetch the $name $version release" >&2
    exit 3
  fi
  local home="${CARGO_HOME:-$HOME/.cargo}" crate
  crate=$(ls "$home"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -n 1)
  if [ -z "$crate" ]; then
    echo "vendor/check.sh: cargo fetched no $name-$version.crate" >&2
    exit 3
  fi
  tar -xzf "$crate" -C "$work"
  for f in "${LEFT_OUT[@]}"; do rm -rf "${work:?}/$name-$version/$f"; done
  mv "$work/$name-$version" "$dest"
  rm -rf "$work"
}

if [ "${1:-}" = "--write" ]; then
  name=${2:?usage: vendor/check.sh --write NAME}
  tmp=$(mktemp -d)
  released "$name" "$(version_of "$name")" "$tmp/a"
  cp -r "$here/$name" "$tmp/b"
  rm -f "$tmp/b/README.md"
  # Headers without file times, so the patch changes only with the change.
  (cd "$tmp" && diff -ruN a b | sed -E 's/^((---|\+\+\+) [^\t]*)\t.*$/\1/' >"$here/$name.patch") || true
  rm -rf "$tmp"
  echo "wrote vendor/$name.patch"
  exit 0
fi

status=0
for patch in "$here"/*.patch; do
  name=$(basename "$patch" .patch)
  version=$(version_of "$name")
  tmp=$(mktemp -d)
  released "$name" "$version" "$tmp/$name"
  if ! (cd "$tmp/$name" && git apply -p1 --whitespace=nowarn "$patch"); then
    echo "vendor/$name: $name.patch does not apply to the $version release" >&2
    status=1
  elif ! diff -r -x README.md "$tmp/$name" "$here/$name"; then
    echo "vendor/$name differs from the $version release plus $name.patch (diff above)" >&2
    status=1
  else
    echo "vendor/$name = $name $version + $name.patch"
  fi
  rm -rf "$tmp"
done
exit $status
