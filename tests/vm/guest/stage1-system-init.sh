#!@BB@/bin/sh
# The stand-in system's init on the installed root (the nixos-install stand-in puts it under
# /nix/store; @BB@ is its static busybox). The stage-1 tier's systemd initrd switches root into
# it, as NixOS's initrd does into a system's init. It records what stage 1 handed over before
# touching anything, then lends itself the kit's tools: it mounts the kit disk (/dev/vda),
# binds the installed tree into it at /installed (and /proc, /sys, /dev, /run), and runs the
# host's /share/test.sh there, like the kit's own guest-init: marks and result on the console.
PATH=@BB@/bin
export PATH
up() { read -r u _ </proc/uptime; echo "$u"; }
echo "BLANKROOT-VM-MARK init t=$(up) (stage-1 tier: switched root)"
E=/run/blankroot-test
mkdir -p $E
ls -A / > $E/root-ls.txt
ls -A /var /var/lib > $E/var-ls.txt 2>&1
cat /proc/self/mountinfo > $E/mountinfo.txt
cat /proc/cmdline > $E/cmdline.txt
echo "$$" > $E/pid.txt
up > $E/uptime-at-init.txt
# blankroot as the installed system keeps it (/persist, mounted by stage 1): on this root no
# dynamic loader exists, so only a static executable runs here.
/persist/var/lib/blankroot/bin/blankroot --version > $E/kept-version.txt 2>&1
echo $? > $E/kept-rc.txt
fail() { echo "BLANKROOT-VM-INIT-FAILED stage-1 system init: $*"; sync; poweroff -f; sleep 60; }
K=/run/blankroot-test/kit
mkdir -p $K
mount -t ext4 /dev/vda $K || fail "mount the kit disk"
mkdir -p $K/installed
mount --rbind / $K/installed || fail "bind the installed root"
mount -t proc proc $K/proc || fail "proc"
mount -t sysfs sysfs $K/sys || fail "sysfs"
mount --rbind /dev $K/dev || fail "dev"
mount --bind /run $K/run || fail "run"
chroot $K /bin/sh -c '
  export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 BLANKROOT_VM=1
  mkdir -p /share /tmp && mount -t tmpfs tmpfs /tmp
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /share || exit 125
  echo "BLANKROOT-VM-MARK ready t=$(cut -d" " -f1 /proc/uptime)"
  cd /share && bash /share/test.sh </dev/null
  rc=$?
  cd / && sync
  exit $rc
'
rc=$?
sync
echo "BLANKROOT-VM-MARK done t=$(up)"
echo "BLANKROOT-VM-RESULT rc=$rc"
sync
poweroff -f
sleep 60
