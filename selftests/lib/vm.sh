# shellcheck shell=bash
# Boot one scenario in qemu (TCG), keep the serial log and the TAP, judge
# the result, print one table row.  Sourced by selftests/run.
#
# A scenario file (selftests/scenarios/NAME) sets DESC, QEMU_ARGS (may use
# $NVDIMM_IMG), APPEND (extra kernel command line), NVDIMM_SIZE (empty: no
# backing file), EXPECT_NODE (the target node the device must report) and
# MUST_RUN (cases of the dax kselftests that must run, not skip, in this
# scenario; those that no installed dax kselftest has are left out, and
# the row says which),
# NVDIMM0_SIZE (a second backing file, $NVDIMM_IMG.0, for scenarios with
# two NVDIMMs) and ONLY_KERNELS (the kernels it runs on, empty: all; the
# comment above it says why).
#
# VM_RESOURCE (set by selftests/run per kernel): m or y when the kernel
# has test_resource (base kernels) and the resource kselftest must run and
# pass in every scenario; empty for mainline, where it must not run.
# KSELFTEST_DAX_PROGS, KSELFTEST_DAX_CASES and VM_KMEM_MODULE (set by
# initramfs_build per kernel): the dax kselftests the guest runs, in
# order, every case they have, and "y" when kmem is a module.
#
# Each dax kselftest must give a result: in base kernels a result line of
# the installed run_kselftest.sh, and in all kernels its TAP between the
# guest's "tap-begin NAME" and "tap-end NAME rc=N" lines; with no device
# named it must skip (the guest's "default-run NAME rc=4").  Its TAP must
# be whole (as many results as its plan), with no "not ok" and an exit
# status that matches (0, or 4 when nothing ran).  The case names are
# unique over all of them, so MUST_RUN and the "# metric" lines are read
# from their TAP put together.

# VM_IOREMAP=1 (selftests/run --ioremap): the guest runs the dax
# kselftests with KMEM_TEST_IOREMAP=1, so that kmem.sh's ioremap case asks
# ioremap() for a hot-added page; its refusal warns and taints the guest
# kernel.  Without it, a guest whose kernel was tainted while the tests
# ran fails: no test may warn by default.

# A scenario takes 10-15 s under TCG here (selftests/run prints each
# one's wall time); a guest that has not powered off after 60 s hangs.
VM_TIMEOUT=${VM_TIMEOUT:-60}
VM_FAILS=0
VM_ROWS=()
VM_RESOURCE=
VM_IOREMAP=${VM_IOREMAP:-0}

# vm_tsv_header: start LOG_DIR/summary.tsv, one row per scenario run;
# selftests/yield reads it.  Sizes in bytes, memory in kB, time in 1/100 s.
vm_tsv_header() {
	[ -s "$LOG_DIR/summary.tsv" ] && return 0
	printf '%s\t' release kernel scenario device_range block_bytes interior_bytes \
		added_bytes memtotal_before_kb memtotal_after_kb node \
		node_memtotal_before_kb node_memtotal_after_kb ram_parent \
		bind_to_online_cs | sed 's/\t$//' >"$LOG_DIR/summary.tsv"
	printf '\tverdict\n' >>"$LOG_DIR/summary.tsv"
}

table_header() {
	printf '%-9s %-13s %-25s %-5s %-9s %-9s %-4s %-13s %-8s %-8s %-14s %s\n' \
		kernel scenario "device range" block interior added node \
		"node MiB" "bind-onl" boot-tap "resource c/f/s" verdict
}

mib() {
	[ -n "${1:-}" ] || { echo -; return; }
	echo "$(($1 / 1048576))M"
}

# vm_run LABEL IMAGE INITRD SCENARIO_FILE
vm_run() {
	local label=$1 image=$2 initrd=$3 scen=$4 name log tap t0 t1 qrc rc
	local verdict why case m k v boot_tap res rrc rcol must cname cb ca p prc missing
	local nplanned=0 serial runner taint tb te append
	local -A M=()
	name=${scen##*/}
	log=$LOG_DIR/$label-$name.log
	tap=$LOG_DIR/$label-$name.tap
	res=$LOG_DIR/$label-$name.resource
	NVDIMM_IMG=$KMEM_CACHE/vm/$label-$name.nvdimm
	APPEND='' NVDIMM_SIZE='' NVDIMM0_SIZE='' EXPECT_NODE='' MUST_RUN='' ONLY_KERNELS=''
	QEMU_ARGS=()
	# shellcheck source=/dev/null
	. "$scen"
	append=$APPEND
	[ "$VM_IOREMAP" != 1 ] || append="$append kmem_test_ioremap=1"
	if [ -n "$ONLY_KERNELS" ] && [ "${ONLY_KERNELS/$label/}" = "$ONLY_KERNELS" ]; then
		echo "$label $name: not run here, only on $ONLY_KERNELS (see $scen)"
		return 0
	fi
	if [ -n "$NVDIMM_SIZE" ]; then
		rm -f "$NVDIMM_IMG"
		truncate -s "$NVDIMM_SIZE" "$NVDIMM_IMG"
	fi
	if [ -n "$NVDIMM0_SIZE" ]; then
		rm -f "$NVDIMM_IMG.0"
		truncate -s "$NVDIMM0_SIZE" "$NVDIMM_IMG.0"
	fi

	t0=$(date +%s%N)
	qrc=0
	timeout "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg -nodefaults \
		-display none -monitor none -serial stdio -no-reboot \
		"${QEMU_ARGS[@]}" -kernel "$image" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 slub_debug=P kmem_test_node=${EXPECT_NODE:--1} $append" \
		</dev/null >"$log" 2>&1 || qrc=$?
	t1=$(date +%s%N)
	rm -f "$NVDIMM_IMG" "$NVDIMM_IMG.0"
	M[vm_s]=$(printf '%d.%02d' $(((t1 - t0) / 1000000000)) $(((t1 - t0) / 10000000 % 100)))

	serial=$(tr -d '\r' <"$log")
	# One TAP file for all the dax kselftests, each after a comment line
	# with its name and exit status; LOG_DIR/LABEL-NAME.PROG.tap each.
	: >"$tap"
	for p in $KSELFTEST_DAX_PROGS; do
		prc=$(sed -n "s/^KMEM-VM: tap-end $p rc=\([0-9a-z]*\).*/\1/p" <<<"$serial")
		sed -n "/^KMEM-VM: tap-begin $p\( \|\$\)/,/^KMEM-VM: tap-end $p /p" <<<"$serial" |
			sed '1d;$d' >"${tap%.tap}.$p.tap"
		echo "# ==== $p exit ${prc:-none}" >>"$tap"
		cat "${tap%.tap}.$p.tap" >>"$tap"
	done
	boot_tap=$(sed -n 's/^KMEM-VM: tap-end .*uptime=\([0-9.]*\).*/\1/p' <<<"$serial" |
		tail -n 1)
	sed -n '/^KMEM-VM: resource-begin/,/^KMEM-VM: resource-end/p' <<<"$serial" |
		sed '1d;$d' >"$res"
	rrc=$(sed -n 's/^KMEM-VM: resource-end rc=\([0-9]*\).*/\1/p' <<<"$serial")
	for m in $(sed -n 's/^# metric //p' "$tap"); do
		k=${m%%=*} v=${m#*=}
		M[$k]=$v
	done
	cname=$(sed -n 's/^KMEM-VM: claim-name //p' <<<"$serial")
	cb=$(sed -n 's/.*before=\([0-9]*\).*/\1/p' <<<"$cname")
	ca=$(sed -n 's/.*after=\([0-9]*\).*/\1/p' <<<"$cname")

	# The MUST_RUN cases, and where kmem binds: with --ioremap, where
	# test_resource is a module (base-m), ioremap() of the hot-added RAM
	# is checked; where kmem is a module, it is unloaded after the
	# unbind.  Of these, the cases that the installed dax kselftests have
	# must run.
	must=$MUST_RUN
	case " $MUST_RUN " in
	*" bind "*) [ "$VM_RESOURCE" != m ] || [ "$VM_IOREMAP" != 1 ] || must="$must ioremap" ;;
	esac
	case " $MUST_RUN " in
	*" unbind_online "*) [ "$VM_KMEM_MODULE" != y ] || must="$must rmmod" ;;
	esac
	missing=''
	for case in $must; do
		case " $KSELFTEST_DAX_CASES " in
		*" $case "*) ;;
		*) missing="$missing $case" ;;
		esac
	done

	verdict=PASS why=
	if ! grep -q '^KMEM-VM: tap-end ' <<<"$serial"; then
		verdict=FAIL why="no verdict from the guest (qemu exit $qrc); see $log"
	elif [ -z "$cname" ] && [ "$MUST_RUN" != "${MUST_RUN#* bind }" ]; then
		verdict=FAIL why="kmem bound here, but the guest did not check its claim's name after destroying the device"
	elif [ -n "$cname" ] && [ "$cname" = "${cname#*device-gone=yes}" ]; then
		verdict=FAIL why="destroying the namespace did not remove the dax device ($cname)"
	elif [ -n "$cname" ] && [ "$cb" != "$ca" ]; then
		verdict=FAIL why="kmem's claim lost its name when the device was destroyed ($cname)"
	fi
	# No test may warn by default: the taint flags at the end must be
	# those of the boot, unless the ioremap probe was asked for.
	taint=$(sed -n 's/^KMEM-VM: tainted //p' <<<"$serial")
	tb=$(sed -n 's/^boot=\([0-9]*\) .*/\1/p' <<<"$taint")
	te=$(sed -n 's/.* end=\([0-9]*\)$/\1/p' <<<"$taint")
	if [ "$verdict" = PASS ] && [ -z "$te" ]; then
		verdict=FAIL why="the guest did not report its kernel's taint flags"
	elif [ "$verdict" = PASS ] && [ "$VM_IOREMAP" != 1 ] && [ "$te" != "$tb" ]; then
		verdict=FAIL why="the kernel was tainted while the tests ran (flags $tb -> $te; see the WARNING in $log)"
	fi
	runner=$(grep '^KMEM-VM: runner: ' <<<"$serial" || true)
	for p in $KSELFTEST_DAX_PROGS; do
		[ "$verdict" = PASS ] || break
		if [ -n "$VM_RESOURCE" ] && ! grep -qF " selftests: dax: $p [" <<<"$runner"; then
			verdict=FAIL why="the installed run_kselftest.sh gave no result for dax: $p"
			break
		fi
		prc=$(sed -n "s/^KMEM-VM: default-run $p rc=\([0-9]*\).*/\1/p" <<<"$serial")
		if [ "$prc" != 4 ]; then
			verdict=FAIL why="$p with no device named exited ${prc:-?}, must skip (4) and touch nothing"
			break
		fi
		prc=$(sed -n "s/^KMEM-VM: tap-end $p rc=\([0-9a-z]*\).*/\1/p" <<<"$serial")
		tap_verdict "$p" "${tap%.tap}.$p.tap" "$prc"
		[ -z "$TAP_WHY" ] || { verdict=FAIL why=$TAP_WHY; break; }
		[ "$TAP_PLAN" -eq 0 ] || nplanned=$((nplanned + 1))
	done
	if [ "$verdict" != PASS ]; then
		:
	elif [ "$nplanned" -eq 0 ]; then
		verdict=FAIL why="every dax kselftest skipped everything: $(sed -n 's/^1\.\.0 # SKIP //p' "$tap" | sort -u | tr '\n' ' ')"
	elif [ -n "$EXPECT_NODE" ] && [ "${M[node]:-}" != "$EXPECT_NODE" ]; then
		verdict=FAIL why="device reports target node ${M[node]:-?}, scenario puts it on $EXPECT_NODE"
	else
		for case in $must; do
			case " $missing " in *" $case "*) continue ;; esac
			grep -qE "^ok [0-9]+ $case\$" "$tap" && continue
			verdict=FAIL why="case $case did not run here: $(grep -E "^ok [0-9]+ $case( |\$)|^not ok [0-9]+ $case\$" "$tap" |
				sed 's/.*# SKIP //' || echo 'no result for it')"
			break
		done
	fi
	resource_verdict "$label" "$res" "$rrc"
	if [ -n "$RES_WHY" ]; then
		if [ "$verdict" = PASS ]; then
			verdict=FAIL why=$RES_WHY
		else
			why="$why; $RES_WHY"
		fi
	fi
	[ "$verdict" = PASS ] || VM_FAILS=$((VM_FAILS + 1))

	local range=- node_mib=- online=-
	[ -z "${M[dev_start]:-}" ] || range="${M[dev_start]}-${M[dev_end]}"
	[ -z "${M[node_before_kb]:-}" ] ||
		node_mib="$((M[node_before_kb] / 1024))->$((M[node_after_kb] / 1024))"
	[ -z "${M[bind_to_online_cs]:-}" ] ||
		online=$(printf '%d.%02ds' $((M[bind_to_online_cs] / 100)) $((M[bind_to_online_cs] % 100)))
	printf '%-9s %-13s %-25s %-5s %-9s %-9s %-4s %-13s %-8s %-8s %-14s %s\n' \
		"$label" "$name" "$range" "$(mib $((${M[block]:-0})))" \
		"$(mib "${M[interior]:-}")" "$(mib "${M[added]:-}")" "${M[node]:--}" \
		"$node_mib" "$online" "${boot_tap:--}s" "$RES_COL" "$verdict"
	[ -z "$why" ] || echo "          $why"
	[ -z "$missing" ] || echo "          not in these dax kselftests, not required:$missing"
	echo "          resource: $RES_LINE"
	echo "          tap: $tap (serial log: $log)"

	# One row of summary.tsv (header written by vm_tsv_header).
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$(sed -n 's/^KMEM-VM: booted kernel=\([^ ]*\).*/\1/;T;p;q' <<<"$serial")" \
		"$label" "$name" "$range" "$((${M[block]:-0}))" "${M[interior]:-}" "${M[added]:-}" \
		"${M[total_before_kb]:-}" "${M[total_after_kb]:-}" "${M[node]:-}" \
		"${M[node_before_kb]:-}" "${M[node_after_kb]:-}" "${M[ram_parent]:-}" \
		"${M[bind_to_online_cs]:-}" "$verdict" >>"$LOG_DIR/summary.tsv"

	# One line of measurements for the summary.
	local dev_bytes=0
	[ -z "${M[dev_start]:-}" ] || dev_bytes=$((M[dev_end] - M[dev_start] + 1))
	VM_ROWS+=("$label $name $verdict $dev_bytes ${M[interior]:-0} ${M[added]:-0} ${M[bind_to_online_cs]:-0} ${boot_tap:-0} ${M[vm_s]} $RES_COL")
}

# tap_verdict NAME TAP RC: judge one dax kselftest's TAP output and exit
# status (RC empty: no tap-end line; "none": the runner gave no result).
# Sets TAP_WHY (empty: fine) and TAP_PLAN.
tap_verdict() {
	local name=$1 tap=$2 rc=$3 ntests nnot
	TAP_WHY='' TAP_PLAN=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/;T;p;q' "$tap")
	ntests=$(grep -cE '^(not )?ok [0-9]+' "$tap" || true)
	nnot=$(grep -cE '^not ok [0-9]+' "$tap" || true)
	if [ -z "$rc" ] || [ "$rc" = none ]; then
		TAP_WHY="$name: no exit status from the guest (${rc:-no tap-end line})"
	elif [ -z "$TAP_PLAN" ]; then
		TAP_WHY="$name: no TAP plan (exit $rc)$(sed -n '/^Bail out!/{s/^/: /p;q}' "$tap")"
	elif [ "$ntests" -ne "$TAP_PLAN" ]; then
		TAP_WHY="$name: plan 1..$TAP_PLAN but $ntests results"
	elif [ "$nnot" -gt 0 ]; then
		TAP_WHY="$name: $nnot case(s) not ok: $(sed -n 's/^not ok [0-9]* //p' "$tap" | tr '\n' ' ')"
	elif [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ]; then
		TAP_WHY="$name exited $rc"
	elif [ "$TAP_PLAN" -eq 0 ] && [ "$rc" -ne 4 ]; then
		TAP_WHY="$name skipped everything but exited $rc, not 4"
	elif [ "$rc" -eq 4 ] && grep -qE '^ok [0-9]+ [^#]*$' "$tap"; then
		TAP_WHY="$name: cases passed but it exited 4 (skip)"
	fi
	if [ -n "$TAP_WHY" ]; then
		TAP_PLAN=0
	fi
	TAP_PLAN=${TAP_PLAN:-0}
	return 0
}

# resource_verdict LABEL OUTPUT RC: judge the resource kselftest's output
# (resource.sh between the guest's resource-begin/-end markers; RC empty
# when the markers are missing).  Sets RES_WHY (empty: fine), RES_COL
# (table column: checks/failed/skipped, or n/a) and RES_LINE.
resource_verdict() {
	local label=$1 out=$2 rc=$3 sum checks=- nfail=- nskip=- nres nnot
	RES_WHY='' RES_COL=n/a
	if [ -z "$VM_RESOURCE" ]; then
		RES_LINE="not run on $label (no test_resource in this kernel; mainline has KUnit for it)"
		if [ -n "$rc" ]; then
			RES_WHY="the resource kselftest ran on $label, which has no test_resource"
			RES_COL=FAIL:ran
		fi
		return 0
	fi
	sum=$(sed -n 's/^resource: \([0-9]* checks, [0-9]* failed, [0-9]* skipped\) \[[A-Z]*\]$/\1/p' "$out" | tail -n 1)
	if [ -n "$sum" ]; then
		read -r checks _ nfail _ nskip _ <<<"$sum"
	fi
	# numbered results: one per check, or the kernel log lost some
	nres=$(grep -cE '^(not )?ok [0-9]+ - ' "$out" || true)
	nnot=$(grep -c '^not ok' "$out" || true)
	if [ -z "$rc" ]; then
		RES_WHY="resource kselftest: no result from the guest (markers missing)"
	elif [ "$rc" -eq 4 ]; then
		RES_WHY="resource kselftest skipped on $label, where it must run: $(grep -m1 'SKIP' "$out")"
	elif [ "$nnot" -gt 0 ]; then
		RES_WHY="resource kselftest: $nnot not ok: $(awk '/^not ok/ && n < 5 { sub(/^not ok [0-9]* *-* */, ""); printf "%s|", $0; n++ }' "$out")"
	elif [ "$rc" -ne 0 ]; then
		RES_WHY="resource kselftest exited $rc: $(tail -n 1 "$out")"
	elif [ -z "$sum" ]; then
		RES_WHY="resource kselftest: no 'N checks, F failed, S skipped' summary"
	elif [ "$checks" -eq 0 ] || [ "$nres" -ne "$checks" ]; then
		RES_WHY="resource kselftest: $nres results for $checks checks (kernel log lost some?)"
	elif [ "$nfail" -ne 0 ]; then
		RES_WHY="resource kselftest: $nfail checks failed"
	elif [ "$VM_RESOURCE" = y ] && [ "$nskip" -ne 0 ]; then
		RES_WHY="resource kselftest: $nskip checks skipped with test_resource built in: $(grep -m1 '^skip' "$out")"
	fi
	RES_COL="PASS:$checks/$nfail/$nskip"
	[ -z "$RES_WHY" ] || RES_COL="FAIL:$checks/$nfail/$nskip"
	RES_LINE="$checks checks, $nfail failed, $nskip skipped, exit ${rc:-none} (test_resource=$VM_RESOURCE) -> $([ -z "$RES_WHY" ] && echo PASS || echo FAIL); output: $out"
}

# vm_summary: yields and timings of every scenario run.
vm_summary() {
	local row label name verdict dev interior added cs boot vm rcol
	echo
	printf '%-9s %-13s %-8s %-12s %-14s %-14s %-10s %-9s %s\n' kernel scenario verdict \
		"added/dev" "added/interior" "online/GiB" boot-tap "VM wall" "resource (checks/failed/skipped)"
	for row in "${VM_ROWS[@]}"; do
		read -r label name verdict dev interior added cs boot vm rcol <<<"$row"
		printf '%-9s %-13s %-8s %-12s %-14s %-14s %-10s %-9s %s\n' "$label" "$name" "$verdict" \
			"$(pct "$added" "$dev")" "$(pct "$added" "$interior")" \
			"$(per_gib "$cs" "$added")" "${boot}s" "${vm}s" "$rcol"
	done
}

pct() {
	[ "${2:-0}" -gt 0 ] || { echo -; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f%%", 100 * a / b }'
}

per_gib() {
	[ "${2:-0}" -gt 0 ] || { echo -; return; }
	awk -v cs="$1" -v b="$2" 'BEGIN { printf "%.2fs", cs / 100 / (b / 1073741824) }'
}
