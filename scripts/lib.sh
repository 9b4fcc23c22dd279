# shellcheck shell=bash
# The globals set here (KMEM_REPO, BASE, BASE_WHY...) are read by the scripts
# that source this file, which shellcheck cannot see from here:
# shellcheck disable=SC2034
# Common helpers for the scripts/ verbs.  Sourced, never run.
#
# One documented variable: KMEM_BASE, a git tree of libnvdimm-pending at
# d2f33c19644 (or an equivalent rebuild).  When it is unset the scripts look
# in $KMEM_CACHE/base.  KMEM_CACHE (default ~/.cache/kmem-series) also holds
# build directories and the unpacked linux-source-6.12; nothing there is ever
# committed.

KMEM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KMEM_CACHE=${KMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kmem-series}
KMEM_BASE_COMMIT_UPSTREAM=d2f33c19644a58bb0b10472377fb29aabf40cb55

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# need CMD PACKAGE: stop with one line when a tool is missing.
need() {
	command -v "$1" >/dev/null 2>&1 ||
		die "'$1' not found; install it with: apt-get install $2"
}

# ensure_pkgs PKG...: install missing Debian packages (CI and fresh machines).
ensure_pkgs() {
	local absent=() p
	for p in "$@"; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = 'install ok installed' ] ||
			absent+=("$p")
	done
	[ ${#absent[@]} -eq 0 ] && return 0
	echo "installing: ${absent[*]}" >&2
	local wait=${KMEM_APT_LOCK_WAIT:-600} apt=()
	[ "$(id -u)" -eq 0 ] || apt=(sudo)
	# Another apt or dpkg run holds the package lock: wait for it (up to
	# $wait s) instead of failing at once.
	apt+=(env DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=$wait" -y -qq)
	"${apt[@]}" install "${absent[@]}" >/dev/null ||
		{ "${apt[@]}" update && "${apt[@]}" install "${absent[@]}" >/dev/null; } ||
		die "could not install ${absent[*]} (apt-get install ${absent[*]}; the package lock is waited for ${wait}s, KMEM_APT_LOCK_WAIT)"
}

# find_base: set BASE to the base tree, or return 1 with BASE_WHY set.
find_base() {
	BASE=${KMEM_BASE:-$KMEM_CACHE/base}
	if [ ! -d "$BASE" ]; then
		BASE_WHY="no base tree at $BASE (set KMEM_BASE to a libnvdimm-pending d2f33c19644 tree; README 'Base tree')"
		return 1
	fi
	if ! git -C "$BASE" rev-parse --verify -q HEAD >/dev/null ||
	   [ ! -f "$BASE/drivers/dax/bus.c" ]; then
		BASE_WHY="$BASE is not a git tree with the device-dax bus (drivers/dax/bus.c missing)"
		return 1
	fi
	return 0
}

# base_kind: after find_base, say on one line what kind of base it is.
base_kind() {
	local head
	head=$(git -C "$BASE" rev-parse HEAD)
	if [ "$head" = "$KMEM_BASE_COMMIT_UPSTREAM" ]; then
		echo "base: $BASE at ${head:0:12}, upstream libnvdimm-pending"
	else
		echo "base: $BASE at ${head:0:12} \"$(git -C "$BASE" log -1 --format=%s)\", a rebuild of ${KMEM_BASE_COMMIT_UPSTREAM:0:12}"
	fi
}

# series_list DIR: print the patch files named by DIR/series, in order.
series_list() {
	grep -v -e '^#' -e '^[[:space:]]*$' "$1/series"
}

# src612: unpack Debian's linux-source-6.12 once into $KMEM_CACHE/linux-6.12,
# as a git tree with one commit, and print its path.
src612() {
	local dir=$KMEM_CACHE/linux-6.12 tarball
	if [ ! -f "$dir/.git/kmem-unpacked-v2" ]; then
		ensure_pkgs linux-source-6.12 xz-utils git >&2
		tarball=$(ls /usr/src/linux-source-6.12.tar.xz 2>/dev/null) ||
			die "linux-source-6.12 tarball missing (apt-get install linux-source-6.12)"
		rm -rf "$dir" && mkdir -p "$dir"
		tar -C "$dir" --strip-components=1 -xJf "$tarball" >&2
		git -C "$dir" init -q
		# -f: Debian's top-level .gitignore ignores everything
		git -C "$dir" add -f -A
		# fixed identity and dates: the same package gives the same
		# commit id on every machine (the companion's base-commit:)
		GIT_AUTHOR_DATE=2024-11-17T00:00:00Z GIT_COMMITTER_DATE=2024-11-17T00:00:00Z \
			git -C "$dir" -c user.name=kmem -c user.email=kmem@localhost \
			commit -q -m "linux-source-6.12 (Debian)" ||
			die "could not commit the unpacked linux-source-6.12 in $dir"
		touch "$dir/.git/kmem-unpacked-v2"
	fi
	echo "$dir"
}
