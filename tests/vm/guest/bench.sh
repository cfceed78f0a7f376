#!/bin/bash
# The install benchmark (benches/install_vm.rs): in one boot, for each config in
# /share/bench-configs, the same install up to the config phase onto disk bench01, done by
# `blankroot install` and by the plain script plan-to-sh.jq makes from blankroot's plan, in
# alternating order, /share/bench-rounds times each. The disk is discarded (blank) before
# every run and everything is closed after; both write their records to the guest's /tmp
# (tmpfs, as the NixOS installer's /var/lib is), copied to the share after. Results in
# out/bench/:
#   <cfg>-<who>-<round>.total   wall seconds of the whole run (blankroot process or script)
#   <cfg>-blankroot-<round>.jsonl   blankroot's JSON events (per-step seconds)
#   <cfg>-script-<round>.times      the script's "<id> <start> <end>" per step
. /share/common.sh
D=$(disk bench01)
R=$OUT/bench
mkdir -p "$R" /tmp/bench-secrets
# Run blankroot from the guest's own disk, not from 9p (exec from 9p costs seconds).
install -m 0755 "$B" /usr/local/bin/blankroot
cp /tmp/passphrase /tmp/bench-secrets/luks-passphrase
head -n 1 /tmp/admin.pw > /tmp/bench-secrets/password:admin
rounds=$(cat $S/bench-rounds)
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
blank_disk() {
    blkdiscard -f "$D" 2> /tmp/blkdiscard.err || { cat /tmp/blkdiscard.err; return 1; }
    udevadm settle
    sync
}
close_all() {
    umount -R /mnt
    zpool export rpool
    cryptsetup close cryptroot
    udevadm settle
}
run_script() { # cfg round
    blank_disk
    t0=$(now)
    SECRETS=/tmp/bench-secrets TIMES=/tmp/times bash "/tmp/script-$1.sh" > /tmp/script.out 2>&1 ||
        { cat /tmp/script.out; return 1; }
    secs "$t0" "$(now)" > "$R/$1-script-$2.total"
    mv /tmp/times "$R/$1-script-$2.times"
    close_all
}
run_blankroot() { # cfg round
    blank_disk
    t0=$(now)
    blankroot install --config "$S/bench-$1.toml" --yes --passphrase-file /tmp/passphrase --until config \
        --state-dir "/tmp/state-$1-$2" --format json > /tmp/events.jsonl 2> /tmp/blankroot.err ||
        { cat /tmp/blankroot.err; return 1; }
    secs "$t0" "$(now)" > "$R/$1-blankroot-$2.total"
    mv /tmp/events.jsonl "$R/$1-blankroot-$2.jsonl"
    close_all
}
for cfg in $(cat $S/bench-configs); do
    blankroot plan --config "$S/bench-$cfg.toml" --format json -o "/tmp/plan-$cfg.json"
    jq -r -f $S/plan-to-sh.jq "/tmp/plan-$cfg.json" > "/tmp/script-$cfg.sh"
    cp "/tmp/script-$cfg.sh" "$R/$cfg-script.sh"
    # A warm-up of each (not counted): first runs pay for loading programs and modules.
    run_script "$cfg" 0
    run_blankroot "$cfg" 0
    for r in $(seq 1 "$rounds"); do
        if [ $((r % 2)) = 1 ]; then
            run_script "$cfg" "$r"; run_blankroot "$cfg" "$r"
        else
            run_blankroot "$cfg" "$r"; run_script "$cfg" "$r"
        fi
        mark "bench-$cfg-$r"
    done
done
