# shellcheck shell=bash
# BASE_WHY, set here, is read by the scripts that source this file:
# shellcheck disable=SC2034
# Kernel builds for the VM harness.  Sourced by selftests/run after
# scripts/lib.sh.  A build directory lives in $KMEM_CACHE/build-<name> and
# carries a stamp of its inputs (source commit, source diff, config
# fragments); when the stamp matches, make is not run at all.  When it
# does run, every compile goes through ccache (scripts/lib.sh: ccache_setup,
# KMEM_CCACHE=0 without), and a line gives the build's hits and misses;
# selftests/mutate's mutant kernels are built here too.

# kernel_stamp SRC FRAGMENT...: print a hash of everything the build uses.
kernel_stamp() {
	local src=$1
	shift
	{
		git -C "$src" rev-parse 'HEAD^{tree}'
		git -C "$src" diff HEAD
		cat "$@"
	} | sha1sum | cut -d' ' -f1
}

# worktree_at WT COMMIT: make WT a detached worktree of $BASE at COMMIT.
# An existing WT is moved with git checkout, which rewrites only the
# files that differ, so that its kernel build redoes only their objects.
worktree_at() {
	local wt=$1 commit=$2
	if git -C "$wt" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$wt" checkout -q -f --detach "$commit"
	else
		rm -rf "$wt"
		git -C "$BASE" worktree prune
		git -C "$BASE" worktree add -q -f --detach "$wt" "$commit"
	fi
}

# series_worktree WT ROOT [SERIES]: WT at the base with the stack of ROOT
# (ROOT's series, then its followup-N-NAME/ folders; only up to SERIES
# when given, e.g. "v5"), applied by scripts/apply in the scratch
# worktree WT.apply (applying in WT itself would rewrite every patched
# file).  Returns 1 with BASE_WHY set when the stack does not apply.
series_worktree() {
	local wt=$1 sdir=$2 out sel=()
	[ -z "${3:-}" ] || sel=(--series "$3")
	if ! out=$("$KMEM_REPO/scripts/apply" --worktree "$wt.apply" --series-dir "$sdir" "${sel[@]}" 2>&1); then
		BASE_WHY="scripts/apply failed: $(echo "$out" | tail -n 1)"
		return 1
	fi
	awk '{ prev = last; last = $0 } END { print prev }' <<<"$out" >&2
	worktree_at "$wt" "$(git -C "$wt.apply" rev-parse HEAD)"
}

# kernel_check_config OUT FRAGMENT...: every CONFIG_X=v (or "is not set")
# line of the fragments, the last one winning, must have survived
# olddefconfig; print the ones that did not.
kernel_check_config() {
	local out=$1 frag line opt bad=0
	local -A want=()
	shift
	for frag in "$@"; do
		while IFS= read -r line; do
			case $line in
			CONFIG_*=*) opt=${line%%=*} ;;
			"# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *} ;;
			*) continue ;;
			esac
			want[$opt]=$line
		done <"$frag"
	done
	for opt in "${!want[@]}"; do
		grep -qxF "${want[$opt]}" "$out/.config" && continue
		# "is not set" is also met by a symbol that is not there at all.
		case ${want[$opt]} in
		"# "*) grep -qE "^$opt=" "$out/.config" || continue ;;
		esac
		echo "  wanted '${want[$opt]}', got '$(grep -E "^(# )?${opt}[= ]" "$out/.config" || echo unset)'" >&2
		bad=1
	done
	return $bad
}

# kernel_build NAME SRC START FRAGMENT...: build bzImage (and modules,
# installed into $KMEM_CACHE/build-NAME/modroot) from the START config
# target (tinyconfig, allnoconfig) plus the fragments.
# Sets KERNEL_IMAGE and KERNEL_MODROOT (empty when nothing is modular).
kernel_build() {
	local name=$1 src=$2 start=$3 out stamp log cc
	shift 3
	out=$KMEM_CACHE/build-$name
	log=$out/build.log
	mkdir -p "$out"
	stamp=$(echo "$start" | cat - "$@" | kernel_stamp "$src" /dev/stdin)
	KERNEL_IMAGE=$out/arch/x86/boot/bzImage
	KERNEL_MODROOT=$out/modroot
	if [ -f "$out/.kmem-stamp" ] && [ "$(cat "$out/.kmem-stamp")" = "$stamp" ] &&
	   [ -f "$KERNEL_IMAGE" ]; then
		echo "kernel $name: up to date ($out)" >&2
		[ -d "$KERNEL_MODROOT/lib/modules" ] || KERNEL_MODROOT=
		return 0
	fi
	echo "kernel $name: building in $out (log: $log)" >&2
	rm -f "$out/.kmem-stamp"
	ccache_setup
	cc=$(ccache_cc)
	{
		make -C "$src" O="$out" ARCH=x86_64 ${cc:+"$cc"} "$start" &&
		"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$@" &&
		make -C "$src" O="$out" ARCH=x86_64 ${cc:+"$cc"} olddefconfig
	} >"$log" 2>&1 || die "kernel $name: configuration failed, see $log"
	kernel_check_config "$out" "$@" ||
		die "kernel $name: the fragments do not apply cleanly to $src (see above)"
	make -C "$src" O="$out" ARCH=x86_64 KCFLAGS= ${cc:+"$cc"} -j"${KMEM_JOBS:-2}" bzImage modules >>"$log" 2>&1 ||
		die "kernel $name: build failed, see $log"
	rm -rf "$KERNEL_MODROOT"
	if grep -q '=m$' "$out/.config"; then
		make -C "$src" O="$out" ARCH=x86_64 ${cc:+"$cc"} INSTALL_MOD_PATH="$KERNEL_MODROOT" \
			modules_install >>"$log" 2>&1 ||
			die "kernel $name: modules_install failed, see $log"
	else
		KERNEL_MODROOT=
	fi
	ccache_report "kernel $name" >&2
	echo "$stamp" >"$out/.kmem-stamp"
}
