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

# The stack.  A repository layout (this repository, or a scratch copy of
# it) holds the series for the base tree as a stack: the root itself (v5:
# ROOT/series, ROOT/patches/, ROOT/cover-letter), then the follow-up
# series ROOT/followup-N-NAME/ (same shape) in the order of N, each applying
# on top of the ones before.  ROOT/kunit/ is the mainline companion, on
# another base, and not part of the stack.

# load_stack [ROOT]: set STACK to the directories of ROOT's stack (default
# this repository), bottom first, absolute paths.  No subshell: a bad
# layout stops the script.
load_stack() {
	local root=${1:-$KMEM_REPO} f d n dup
	local -a found=()
	root=$(cd "$root" 2>/dev/null && pwd) || die "no directory $1"
	[ -s "$root/series" ] || die "no series file in $root"
	for f in "$root"/followup-[0-9]*-*/series; do
		[ -f "$f" ] || continue
		d=${f%/series}
		n=${d##*/followup-}
		n=${n%%-*}
		case $n in
		*[!0-9]*) die "${d##*/}: a follow-up folder is named followup-N-NAME, N a number";;
		esac
		found+=("$((10#$n)) $d")
	done
	STACK=("$root")
	[ ${#found[@]} -gt 0 ] || return 0
	dup=$(printf '%s\n' "${found[@]}" | cut -d' ' -f1 | sort -n | uniq -d)
	[ -z "$dup" ] || die "$root: more than one follow-up numbered $dup"
	mapfile -t -O 1 STACK < <(printf '%s\n' "${found[@]}" | sort -n -k1,1 | cut -d' ' -f2-)
}

# resolve_series ARG [ROOT]: set SERIES to the directory ARG names in
# ROOT's layout: "." (or "v5", "root", ROOT itself) for the root series,
# "followup-N-NAME" (or just "followup-N"), "kunit", or a path to one of
# them.  Dies with the names there are when ARG names none.
resolve_series() {
	local arg=${1%/} root=${2:-$KMEM_REPO} d m
	local -a hits=()
	root=$(cd "$root" && pwd)
	case $arg in
	.|v[0-9]*|root|"$root") SERIES=$root; return 0;;
	kunit) SERIES=$root/kunit
		[ -s "$SERIES/series" ] || die "no series file in $SERIES"
		return 0;;
	esac
	if [ -s "$root/$arg/series" ]; then
		d=$root/$arg
	elif [ -s "$arg/series" ]; then
		d=$(cd "$arg" && pwd)
	else
		for m in "$root/$arg"-*/series; do
			if [ -f "$m" ]; then hits+=("${m%/series}"); fi
		done
		[ ${#hits[@]} -eq 1 ] || {
			load_stack "$root"
			die "no series '$1' (have: $(for d in "${STACK[@]}"; do series_name "$d" "$root"; done | paste -sd' ')$([ -s "$root/kunit/series" ] && echo ' kunit'))"
		}
		d=${hits[0]}
	fi
	SERIES=$d
}

# series_name DIR [ROOT]: the name a series goes by: "v5" (the root's
# revision, from its cover letter), "kunit", or the follow-up's folder name.
series_name() {
	local d=${1%/} root=${2:-$KMEM_REPO}
	root=$(cd "$root" && pwd)
	if [ "$d" = "$root" ]; then
		echo "v$(series_revision "$d")"
	else
		echo "${d##*/}"
	fi
}

# series_revision DIR: the revision N of "[PATCH vN 00/M]" on the first
# line of DIR/cover-letter; 1 (a first posting, "[PATCH 0/M]") otherwise.
series_revision() {
	local r
	r=$(sed -n '1s/^\(Subject: *\)\{0,1\}\[PATCH v\([0-9][0-9]*\) .*/\2/p' "$1/cover-letter" 2>/dev/null || true)
	echo "${r:-1}"
}

# series_prefix DIR: the subject prefix of DIR's mails ("PATCH v5", "PATCH").
series_prefix() {
	local r
	r=$(series_revision "$1")
	if [ "$r" -eq 1 ]; then echo PATCH; else echo "PATCH v$r"; fi
}

# stack_upto DIR: cut STACK (load_stack) after DIR; dies when DIR is not in it.
stack_upto() {
	local i
	for i in "${!STACK[@]}"; do
		if [ "${STACK[$i]}" = "${1%/}" ]; then
			STACK=("${STACK[@]:0:$((i + 1))}")
			return 0
		fi
	done
	die "$1 is not a series of the stack (${STACK[0]} and its followup-N-NAME/ folders)"
}

# in_list WORD ITEM...: true when WORD is one of the ITEMs (no pipe into
# grep -q under pipefail: issue 19).
in_list() {
	local w=$1 x
	shift
	for x in "$@"; do
		[ "$x" != "$w" ] || return 0
	done
	return 1
}

# series_count DIR: the number of patches DIR/series names.
series_count() {
	local -a l
	mapfile -t l < <(series_list "$1")
	echo "${#l[@]}"
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

# --- ccache for the kernel builds -------------------------------------
# Every kernel the project builds (scripts/check's x86, lint and powerpc
# builds, scripts/kunit's three kunit.py kernels, selftests/lib/kernel.sh's
# VM kernels and so selftests/run, selftests/mutate and selftests/bench)
# compiles through ccache, with its cache in $KMEM_CACHE/ccache.
# scripts/check walks the stack from the base commit at every run, so each
# patch that touches a widely included header (ioport.h, memory_hotplug.h)
# costs a near-full rebuild of two kernels; make cannot keep those warm,
# but the compiles are the same every run, so ccache turns them into hits.
# KMEM_CCACHE=0 builds without it (make then rebuilds every object once,
# because the compile command it records changes; so does turning it back
# on).
#
# Caching cannot hide a warning: ccache stores a compile's stderr with its
# object and replays it on every hit, and it caches no compile that
# failed.  The key is the compiler (path, size, mtime), the whole command
# line (W=1, -Werror, KCFLAGS ... all part of it) and the source with
# every header it includes (their contents: a changed header is a miss),
# so the build logs that scripts/check greps for warnings in the files a
# patch touches read the same on a hit as on a miss.  Sparse (C=2) runs as
# make's CHECK command, outside ccache, at every lint.
#
# Sloppiness: include_file_mtime and include_file_ctime let a header that
# make has just generated (include/generated/*, include/config/*) still be
# used for direct-mode hits; the header's contents are still hashed, only
# ccache's guard against a header being rewritten during the compile is
# off, and no header changes while make compiles.  time_macros: the
# kernels build with -Werror=date-time, so no file uses __DATE__ or
# __TIME__.  No base_dir and the default hash_dir: every source tree and
# build directory is at a fixed path in $KMEM_CACHE (check-tree,
# kunit-tree, vm-src-base, linux-6.12, build-*), the same for every clone
# of this repository, so hits carry over between clones as they are.

# ccache_setup: before a script's kernel builds: install ccache, point it
# at $KMEM_CACHE/ccache (size limit KMEM_CCACHE_SIZE, default 8G, kept in
# that directory's ccache.conf) and start a stats log of this run's
# compiles alone (ccache's own counters are shared with every other build
# on the machine) for ccache_report.  Nothing when KMEM_CCACHE=0.
KMEM_CCACHE_ON=0
ccache_setup() {
	KMEM_CCACHE_ON=0
	[ "${KMEM_CCACHE:-1}" != 0 ] || return 0
	ensure_pkgs ccache >&2
	need ccache ccache
	export CCACHE_DIR=$KMEM_CACHE/ccache
	export CCACHE_SLOPPINESS=include_file_mtime,include_file_ctime,time_macros
	mkdir -p "$CCACHE_DIR"
	ccache -M "${KMEM_CCACHE_SIZE:-8G}" >/dev/null
	[ -z "${KMEM_CCACHE_LOG:-}" ] || rm -f "$KMEM_CCACHE_LOG"
	# the logs of runs that stopped before their report (a log in use is
	# written at every compile)
	find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'kmem-ccache-stats.*' -mmin +720 -delete 2>/dev/null || true
	KMEM_CCACHE_LOG=$(mktemp "${TMPDIR:-/tmp}/kmem-ccache-stats.XXXXXX")
	export CCACHE_STATSLOG=$KMEM_CCACHE_LOG
	KMEM_CCACHE_ON=1
}

# ccache_cc [CROSS_COMPILE]: print the make argument that compiles through
# ccache, "CC=ccache gcc" ("CC=ccache powerpc64le-linux-gnu-gcc" with a
# prefix); print nothing when ccache is off.  Use it as
#   cc=$(ccache_cc PREFIX); make ... ${cc:+"$cc"}
ccache_cc() {
	[ "$KMEM_CCACHE_ON" = 1 ] || return 0
	echo "CC=ccache ${1:-}gcc"
}

# ccache_report WHAT: one line, the hits and misses since ccache_setup
# (from its stats log, which it then removes).
ccache_report() {
	if [ "$KMEM_CCACHE_ON" != 1 ]; then
		echo "ccache: off for $1 (KMEM_CCACHE=0)"
		return 0
	fi
	local stats h m u
	# one "# SOURCE" line per ccache call, then the counters it bumped
	stats=$(awk '
		/^#/ { n++; next }
		/^(direct|preprocessed)_cache_hit$/ { h++ }
		$0 == "cache_miss" { m++ }
		END { printf "%d %d %d\n", h, m, n - h - m }' "$KMEM_CCACHE_LOG" 2>/dev/null) || stats="0 0 0"
	read -r h m u <<<"$stats"
	rm -f "$KMEM_CCACHE_LOG"
	unset CCACHE_STATSLOG
	echo "ccache ($1): $h hits, $m misses$([ $((h + m)) -eq 0 ] || echo " ($((100 * h / (h + m)))% hits)"), $u calls not cacheable (links, probes); cache $(du -sh "$CCACHE_DIR" 2>/dev/null | cut -f1) in $CCACHE_DIR"
}
