#!/bin/bash
# doctor on the "installer" (the kit, booted with UEFI firmware and an SMBIOS UUID as libvirt
# gives one): the install disk disk01 has a serial; vdc has none. Results: out/doctor-*.json
# and .rc. The kit has no NixOS tools, so doctor must report them (an error, exit 3).
. /share/common.sh
set +e
"$B" doctor --disk "$(disk disk01)" --format json > "$OUT/doctor-live.json" 2> "$OUT/doctor-live.err"
echo $? > "$OUT/doctor-live.rc"
"$B" doctor --disk /dev/vdc --format json > "$OUT/doctor-noserial.json" 2> "$OUT/doctor-noserial.err"
echo $? > "$OUT/doctor-noserial.rc"
"$B" doctor --disk "$(disk disk01)" > "$OUT/doctor-live.txt" 2>&1
set -e
