# shellcheck shell=bash
# The test VM's initramfs: busybox, ndctl and daxctl with their shared
# libraries, the dax kselftest extracted from the series' patch, the
# kernel's modules, and guest/init.  Sourced by selftests/run.

# kselftest_from_patch DIR: extract tools/testing/selftests/dax/ from the
# patch in patches/ that adds it, into DIR/dax.  Sets KSELFTEST_PATCH.
kselftest_from_patch() {
	local dir=$1 scratch
	KSELFTEST_PATCH=$(grep -l 'tools/testing/selftests/dax/' "$KMEM_REPO"/patches/*.patch 2>/dev/null | head -n 1) ||
		true
	[ -n "$KSELFTEST_PATCH" ] ||
		die "no patch in $KMEM_REPO/patches adds tools/testing/selftests/dax/"
	scratch=$(mktemp -d)
	git -C "$scratch" init -q
	git -C "$scratch" apply --include='tools/testing/selftests/dax/*' "$KSELFTEST_PATCH" ||
		die "could not extract the kselftest from $KSELFTEST_PATCH"
	rm -rf "$dir/dax"
	mkdir -p "$dir"
	cp -a "$scratch/tools/testing/selftests/dax" "$dir/dax"
	rm -rf "$scratch"
	[ -x "$dir/dax/kmem.sh" ] || die "$KSELFTEST_PATCH has no executable kmem.sh"
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

# initramfs_build OUT MODROOT: write the uncompressed cpio archive OUT.
# MODROOT is empty for a kernel without modules.
initramfs_build() {
	local out=$1 modroot=$2 root
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib,kselftest}
	install -m 755 /bin/busybox "$root/bin/busybox"
	copy_with_libs "$root" "$(command -v ndctl)" "$(command -v daxctl)"
	kselftest_from_patch "$root/kselftest"
	install -m 755 "$KMEM_REPO/selftests/guest/init" "$root/init"
	if [ -n "$modroot" ]; then
		cp -a "$modroot/lib/modules" "$root/lib/"
	fi
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$out"
	rm -rf "$root"
}
