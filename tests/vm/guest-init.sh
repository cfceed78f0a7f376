#!/bin/sh
# PID 1 of the blankroot test VM (kit.sh installs it as /sbin/blankroot-guest-init; run.sh boots
# the kernel with init= pointing at it). It brings up just enough of a system -- kernel file
# systems, udev (for /dev/disk/by-id and /dev/mapper links), the ZFS module, the host's 9p
# share on /share -- runs /share/test.sh, and powers off. Everything goes to the serial console:
#
#   BLANKROOT-VM-MARK init t=<uptime>      PID 1 started
#   BLANKROOT-VM-MARK ready t=<uptime>     devices settled, zfs loaded, /share mounted
#   ... the output of /share/test.sh (which may print its own BLANKROOT-VM-MARK <name> lines)
#   BLANKROOT-VM-MARK done t=<uptime>
#   BLANKROOT-VM-RESULT rc=<exit status of test.sh>
#
# If the guest cannot get ready it prints "BLANKROOT-VM-INIT-FAILED <what>" and no RESULT line.
# The kit's root is attached with snapshot=on: nothing written to it survives the boot.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
HOME=/root
TERM=dumb
LANG=C.UTF-8
BLANKROOT_VM=1
export PATH HOME TERM LANG BLANKROOT_VM

uptime_s() { read -r u _ </proc/uptime; echo "$u"; }
mark() { echo "BLANKROOT-VM-MARK $1 t=$(uptime_s)"; }
halt_now() { sync; busybox poweroff -f; sleep 60; }
init_failed() {
  echo "BLANKROOT-VM-INIT-FAILED $*"
  halt_now
}
mnt() { # mnt TYPE SOURCE DIR [OPTIONS]: mounts unless the initramfs already moved one there
  mkdir -p "$3"
  mountpoint -q "$3" || mount -t "$1" ${4:+-o "$4"} "$2" "$3" || init_failed "mount $3"
}

mnt proc proc /proc
mark init
mnt sysfs sysfs /sys
mnt devtmpfs devtmpfs /dev
mnt devpts devpts /dev/pts gid=5,mode=620
mnt tmpfs tmpfs /dev/shm mode=1777
mnt tmpfs tmpfs /run mode=0755
mnt tmpfs tmpfs /tmp mode=1777
# From here on only errors of the kernel reach the console, so test output stays readable
# (dmesg has the rest).
dmesg -n 4 2>/dev/null || true
hostname blankroot-vm 2>/dev/null || true

/lib/systemd/systemd-udevd --daemon --resolve-names=never || init_failed "systemd-udevd"
# Replay "add" only for what matters here: PCI and virtio devices (their drivers: AHCI for the
# DVD drive, virtio-rng, 9p), CPUs (AES-NI and other crypto modules) and block devices (the
# /dev/disk/by-* links). New devices (partitions, dm, zvols, loops) get their events live.
# Replaying every subsystem costs about 5 s more per boot under TCG; a test that needs it can
# run "udevadm trigger --action=add && udevadm settle" itself.
udevadm trigger --type=devices --action=add --subsystem-match=pci --subsystem-match=virtio \
  --subsystem-match=cpu --subsystem-match=block
udevadm settle --timeout=120 || echo "blankroot-guest-init: udevadm settle timed out"
modprobe zfs || init_failed "modprobe zfs"
modprobe 9pnet_virtio || init_failed "modprobe 9pnet_virtio"
mnt 9p share /share trans=virtio,version=9p2000.L,msize=262144
[ -f /share/test.sh ] || init_failed "/share/test.sh is missing"
udevadm settle --timeout=60 || true
mark ready

cd /share || init_failed "cd /share"
if [ -x /share/test.sh ]; then
  /share/test.sh </dev/null
else
  sh /share/test.sh </dev/null
fi
rc=$?
cd /
sync
mark done
echo "BLANKROOT-VM-RESULT rc=$rc"
halt_now
