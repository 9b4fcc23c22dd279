# shellcheck shell=bash
# KSELFTEST_FROM and the others set here are read by selftests/run and vm.sh:
# shellcheck disable=SC2034
# The test VM's initramfs: busybox, ndctl and daxctl with their shared
# libraries, the kselftests (base kernels: lib and dax installed from the
# tree with "make install", with kmod's modprobe for the resource test;
# mainline: tools/testing/selftests/dax/ as the patches of the whole stack
# of series leave it), the list of dax kselftests in /etc/kmem-dax-progs,
# the kernel's modules, and guest/init.  Sourced by selftests/run, which
# reads KSELFTEST_FROM; selftests/lib/vm.sh reads KSELFTEST_DAX_PROGS,
# KSELFTEST_DAX_CASES and VM_KMEM_MODULE.

# series_stack: the series directories the VM's kselftests come from,
# root first: SERIES_STACK (a space-separated list, set by whoever builds a
# stack of series) when set, else $SERIES_DIR followed by the follow-up
# series kept in it (each directory one or two levels below that has a
# "series" file and a patches/ directory, kunit/ excepted, in version
# order of their paths: their names show their order).
series_stack() {
	local d
	if [ -n "${SERIES_STACK:-}" ]; then
		printf '%s\n' $SERIES_STACK
		return 0
	fi
	echo "$SERIES_DIR"
	find "$SERIES_DIR" -mindepth 2 -maxdepth 3 -name series -type f \
		-not -path '*/.git/*' -not -path "$SERIES_DIR/kunit/*" -printf '%h\n' |
		sort -V | while read -r d; do
			[ -d "$d/patches" ] && echo "$d"
		done
}

# stack_patches PATH: print, in the order they apply, the patches of every
# series of the stack that touch PATH (a directory ending in /, or a file).
stack_patches() {
	local dir p
	while read -r dir; do
		while read -r p; do
			grep -q "^+++ b/$1" "$dir/patches/$p" && echo "$dir/patches/$p"
		done < <(series_list "$dir")
	done < <(series_stack)
	return 0
}

# make_list MAKEFILE VAR: the words of VAR (":=" and "+=" lines, with
# their continuation lines) in MAKEFILE, one a line.
make_list() {
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$1" |
		sed -n "s/^$2[[:space:]]*[:+]=//p" | tr -s ' \t' '\n\n' | sed '/^$/d'
}

# dax_progs DIR: check that DIR (the dax kselftest as installed) holds an
# executable file for each name in DAX_PROGS; set KSELFTEST_DAX_PROGS (the
# names, in run order) and KSELFTEST_DAX_CASES (the cases their run_cases
# lines, or run_case lines, name, with their backslash-continued lines).
dax_progs() {
	local dir=$1 p
	[ ${#DAX_PROGS[@]} -gt 0 ] || die "$KSELFTEST_FROM: no dax kselftest in TEST_PROGS"
	for p in "${DAX_PROGS[@]}"; do
		[ -x "$dir/$p" ] || die "$KSELFTEST_FROM: no executable dax/$p"
	done
	KSELFTEST_DAX_PROGS="${DAX_PROGS[*]}"
	KSELFTEST_DAX_CASES=$(cd "$dir" && awk '
		/^run_cases? / { on = 1; sub(/^run_cases? /, "") }
		on { more = sub(/\\$/, ""); printf "%s ", $0; on = more }' \
		"${DAX_PROGS[@]}" | tr -s ' \t\n' '   ')
}

# kselftest_from_patches DIR: tools/testing/selftests/dax/ as the whole
# stack of series leaves it (every patch that touches it applied in order
# to an empty tree, so that a later series' changes and new files are
# there), into DIR/dax.  Sets KSELFTEST_FROM, KSELFTEST_DAX_PROGS (its
# Makefile's TEST_PROGS) and KSELFTEST_DAX_CASES.
kselftest_from_patches() {
	local dir=$1 path=tools/testing/selftests/dax/ scratch p
	local -a patches
	mapfile -t patches < <(stack_patches "$path")
	[ ${#patches[@]} -gt 0 ] ||
		die "no patch of the series in $(series_stack | tr '\n' ' ')adds $path"
	scratch=$(mktemp -d)
	git -C "$scratch" init -q
	for p in "${patches[@]}"; do
		git -C "$scratch" apply --include="$path*" "$p" ||
			die "could not apply $path of $p"
	done
	[ -f "$scratch/$path/Makefile" ] || die "${patches[-1]}: no $path/Makefile"
	rm -rf "$dir/dax"
	mkdir -p "$dir"
	cp -a "$scratch/${path%/}" "$dir/dax"
	rm -rf "$scratch"
	KSELFTEST_FROM=$(for p in "${patches[@]}"; do echo "${p#"$KMEM_REPO"/}"; done |
		paste -sd ' ')
	mapfile -t DAX_PROGS < <(make_list "$dir/dax/Makefile" TEST_PROGS)
	dax_progs "$dir/dax"
}

# kselftest_install SRC DIR: install the lib and dax kselftests of the
# kernel tree SRC into DIR the way the tree does it, run_kselftest.sh
# included, so that the series' Makefiles and TARGETS line are what the
# guest runs.  Sets KSELFTEST_FROM to say so, and KSELFTEST_DAX_PROGS
# (what run_kselftest.sh runs of dax) and KSELFTEST_DAX_CASES.
kselftest_install() {
	local src=$1 dir=$2 log
	log=$(mktemp)
	rm -rf "$dir"
	make -C "$src/tools/testing/selftests" TARGETS="lib dax" \
		INSTALL_PATH="$dir" install >"$log" 2>&1 || {
		tail -n 5 "$log" >&2
		die "kselftest install from $src failed"
	}
	rm -f "$log"
	local f
	for f in run_kselftest.sh lib/resource.sh; do
		[ -x "$dir/$f" ] || die "kselftest install from $src: no executable $f"
	done
	KSELFTEST_FROM="$src (make -C tools/testing/selftests TARGETS=\"lib dax\" install)"
	mapfile -t DAX_PROGS < <(sed -n 's/^echo selftests: dax: //p' "$dir/run_kselftest.sh")
	dax_progs "$dir/dax"
}

# copy_with_libs ROOT BINARY...: BINARY and the libraries ldd lists for it,
# at the same paths below ROOT.
copy_with_libs() {
	local root=$1 bin lib
	shift
	for bin in "$@"; do
		install -D -m 755 "$bin" "$root$bin"
		for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
			[ -e "$root$lib" ] || install -D -m 755 "$lib" "$root$lib"
		done
	done
}

# initramfs_build OUT MODROOT [RESOURCE SRC]: write the uncompressed cpio
# archive OUT.  MODROOT is empty for a kernel without modules.  RESOURCE
# (base kernels): m or y, how CONFIG_TEST_RESOURCE is built; the
# kselftests are then installed from the kernel tree SRC (the base with
# the series), the resource kselftest with them, and the guest runs the
# installed run_kselftest.sh.  Without it (mainline), the dax kselftests
# are taken from the patches of the stack of series, and the guest runs
# them one after the other in their Makefile's order.
initramfs_build() {
	local out=$1 modroot=$2 resource=${3:-} src=${4:-} root dep
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib,kselftest}
	install -m 755 /bin/busybox "$root/bin/busybox"
	copy_with_libs "$root" "$(command -v ndctl)" "$(command -v daxctl)"
	if [ -n "$resource" ]; then
		kselftest_install "$src" "$root/kselftest"
		# resource.sh runs /sbin/modprobe -n, which busybox's modprobe
		# rejects ("invalid option -- 'n'"); use kmod's, as on a
		# distribution.  copy_with_libs follows the symlink to kmod,
		# which acts as modprobe by its name.
		copy_with_libs "$root" /sbin/modprobe
		[ -x "$root/sbin/modprobe" ] || die "no /sbin/modprobe (apt-get install kmod)"
	else
		kselftest_from_patches "$root/kselftest"
	fi
	# The guest runs (mainline) or looks for (base) these, in this order.
	printf '%s\n' $KSELFTEST_DAX_PROGS >"$root/etc/kmem-dax-progs"
	# The kmem kselftests unload kmem where it is a module.
	VM_KMEM_MODULE=
	if [ -n "$modroot" ] &&
	   grep -q '/kmem\.ko:' "$modroot"/lib/modules/*/modules.dep 2>/dev/null; then
		VM_KMEM_MODULE=y
	fi
	install -m 755 "$KMEM_REPO/selftests/guest/init" "$root/init"
	if [ -n "$modroot" ]; then
		cp -a "$modroot/lib/modules" "$root/lib/"
	fi
	if [ "$resource" = m ]; then
		# modprobe finds the module only through modules.dep (depmod,
		# run by modules_install).
		local deps=("$root"/lib/modules/*/modules.dep)
		dep=${deps[0]}
		[ -f "$dep" ] && grep -q 'test_resource\.ko:' "$dep" ||
			die "CONFIG_TEST_RESOURCE=m but test_resource.ko is not in ${dep:-modules.dep (none)}"
	fi
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$out"
	rm -rf "$root"
}
