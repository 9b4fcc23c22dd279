# shellcheck shell=bash
# KSELFTEST_FROM, set here, is read by selftests/run:
# shellcheck disable=SC2034
# The test VM's initramfs: busybox, ndctl and daxctl with their shared
# libraries, the kselftests (base kernels: lib and dax installed from the
# tree with "make install", with kmod's modprobe for the resource test;
# mainline: the dax kselftest extracted from the series' patch), the
# kernel's modules, and guest/init.  Sourced by selftests/run.

# series_patch PATH: print the first patch of the series in use
# ($SERIES_DIR/series, patches in $SERIES_DIR/patches) that touches PATH
# (a file or a directory ending in /), or nothing.
series_patch() {
	local p
	while read -r p; do
		if grep -q "^+++ b/$1" "$SERIES_DIR/patches/$p"; then
			echo "$SERIES_DIR/patches/$p"
			return 0
		fi
	done < <(series_list "$SERIES_DIR")
}

# extract_from_patch PATCH PATH DEST: git apply --include PATH (a
# directory ending in /, or a file) from PATCH into an empty scratch tree
# and copy the result to DEST.
extract_from_patch() {
	local patch=$1 path=$2 dest=$3 scratch inc=$2
	case $path in */) inc="${path}*" ;; esac
	scratch=$(mktemp -d)
	git -C "$scratch" init -q
	git -C "$scratch" apply --include="$inc" "$patch" ||
		die "could not extract $path from $patch"
	[ -e "$scratch/$path" ] || die "$patch does not add $path"
	rm -rf "$dest"
	mkdir -p "$(dirname "$dest")"
	cp -a "$scratch/${path%/}" "$dest"
	rm -rf "$scratch"
}

# kselftest_from_patch DIR: extract tools/testing/selftests/dax/ from the
# patch of the series that adds it, into DIR/dax.  Sets KSELFTEST_FROM.
kselftest_from_patch() {
	local dir=$1
	KSELFTEST_PATCH=$(series_patch tools/testing/selftests/dax/)
	[ -n "$KSELFTEST_PATCH" ] ||
		die "no patch in $SERIES_DIR/series adds tools/testing/selftests/dax/"
	extract_from_patch "$KSELFTEST_PATCH" tools/testing/selftests/dax/ "$dir/dax"
	[ -x "$dir/dax/kmem.sh" ] || die "$KSELFTEST_PATCH has no executable kmem.sh"
	KSELFTEST_FROM=${KSELFTEST_PATCH#"$KMEM_REPO"/}
}

# kselftest_install SRC DIR: install the lib and dax kselftests of the
# kernel tree SRC into DIR the way the tree does it, run_kselftest.sh
# included, so that the series' Makefiles and TARGETS line are what the
# guest runs.  Sets KSELFTEST_FROM to say so.
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
	for f in run_kselftest.sh dax/kmem.sh lib/resource.sh; do
		[ -x "$dir/$f" ] || die "kselftest install from $src: no executable $f"
	done
	KSELFTEST_FROM="$src (make -C tools/testing/selftests TARGETS=\"lib dax\" install)"
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
# installed run_kselftest.sh.  Without it (mainline), kmem.sh is taken
# from the series' patch and run alone.
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
		kselftest_from_patch "$root/kselftest"
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
