# One boot of the power-cut chain: resume the install (the host may cut power at any mark),
# and when it completes, check the result and close the disk. disk02 must never change.
. /share/common.sh
[ -e $S/plan.json ] || "$B" plan --config $S/cfg.toml --format json -o $S/plan.json
sha256sum "$(disk disk02)" | cut -d' ' -f1 >> "$OUT/disk02.sums"
# The host asks for a cut exactly at a step boundary by naming the step: blankroot then stops
# right after recording it (its test hook), and the host cuts on the step's done- mark.
BLANKROOT_TEST_PAUSE_AFTER=$(cat $S/pause-after 2>/dev/null || true)
export BLANKROOT_TEST_PAUSE_AFTER
set +e
install_marked --plan $S/plan.json --yes --passphrase-file /tmp/passphrase --until config --state-dir $S/state
rc=$?
set -e
echo "$rc" >> "$OUT/resume-rcs.txt"
if [ "$rc" != 0 ]; then
    echo "install exited $rc:"
    cat "$OUT/install.stderr"
    exit "$rc"
fi
zfs list -H -o name -r rpool > "$OUT/final-datasets.txt"
zfs list -H -t snapshot -o name > "$OUT/final-snapshots.txt"
ls /mnt/etc/nixos > "$OUT/final-etc-nixos.txt"
umount -R /mnt
zpool export rpool
cryptsetup close cryptroot
sha256sum "$(disk disk02)" | cut -d' ' -f1 >> "$OUT/disk02.sums"
mark complete
