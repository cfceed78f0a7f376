#!/bin/bash
# Two `blankroot install` runs started at the same moment on one disk, each with its own state
# directory, in several rounds (issue 11, item 3): one by the disk's /dev/disk/by-id name, the
# other by its kernel name (swapped every round), so both names must meet the same lock. Each
# round starts from a wiped disk. Results in out/race/<round>/: <run>.{path,pid,rc,out,err},
# <run>.plan.json, the disk's PTUUID, and the lock directory as it was after both ended.
. /share/common.sh
install -m 0755 "$B" /usr/local/bin/blankroot
ROUNDS=4
D=$(disk disk01)
K=$(readlink -f "$D")
echo "$K" > "$OUT/race-kernel-path.txt"

# Back to an empty disk: no mapping, no signature, no partition table (nor its backup at the
# end), and the kernel and udev told.
wipe() {
    if cryptsetup status cryptroot > /dev/null 2>&1; then cryptsetup close cryptroot; fi
    for p in "$K"[0-9]*; do
        if [ -b "$p" ]; then wipefs -q -a "$p"; fi
    done
    wipefs -q -a "$K"
    size=$(blockdev --getsize64 "$K")
    dd if=/dev/zero of="$K" bs=1M count=1 conv=fsync status=none
    dd if=/dev/zero of="$K" bs=1M count=1 seek=$((size / 1048576 - 1)) conv=fsync status=none
    blockdev --rereadpt "$K"
    udevadm settle
    if [ -n "$(lsblk -rno NAME "$K" | tail -n +2)" ]; then echo "partitions left on $K:"; lsblk "$K"; exit 1; fi
    if blkid -p "$K" > /dev/null 2>&1; then echo "a signature left on $K:"; blkid -p "$K"; exit 1; fi
}

# Starts runs a and b together: each waits for a shared lock on /tmp/go.lock, which this shell
# holds exclusively until both are waiting, then execs blankroot (so $! is blankroot's pid).
race() {
    local r=$1 dir=$OUT/race/$1 w p i
    mkdir -p "$dir"
    rm -rf /tmp/state-a /tmp/state-b /tmp/ready-a /tmp/ready-b
    exec 9> /tmp/go.lock
    flock -x 9
    for w in a b; do
        # Round 0: a by-id, b by kernel name; round 1 the other way round; and so on.
        if [ "$w" = a ]; then i=$r; else i=$((r + 1)); fi
        if [ $((i % 2)) -eq 0 ]; then p=$D; else p=$K; fi
        echo "$p" > "$dir/$w.path"
        (
            exec 9>&-
            : > "/tmp/ready-$w"
            flock -s /tmp/go.lock true
            exec blankroot install --config "$S/cfg.toml" --disk "$p" --yes --wipe --passphrase-file /tmp/passphrase \
                --until disk --state-dir "/tmp/state-$w" --format json > "$dir/$w.out" 2> "$dir/$w.err"
        ) &
        echo $! > "$dir/$w.pid"
    done
    until [ -e /tmp/ready-a ] && [ -e /tmp/ready-b ]; do sleep 0.01; done
    flock -u 9
    exec 9>&-
    for w in a b; do
        set +e
        wait "$(cat "$dir/$w.pid")"
        echo $? > "$dir/$w.rc"
        set -e
        if [ -e "/tmp/state-$w/plan.json" ]; then cp "/tmp/state-$w/plan.json" "$dir/$w.plan.json"; fi
    done
    udevadm settle
    blkid -p -s PTUUID -o value "$K" > "$dir/ptuuid" || true
    ls /run/blankroot/lock > "$dir/locks.txt"
    stat -c '%a' /run/blankroot /run/blankroot/lock > "$dir/lock-modes.txt"
    cat /run/blankroot/lock/* > "$dir/lock-records.txt"
    mark "race-$r"
}

for r in $(seq 0 $((ROUNDS - 1))); do
    wipe
    race "$r"
done
