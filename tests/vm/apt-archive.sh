#!/usr/bin/env bash
# The Debian archive the VM kit is built from, taken from this machine's own apt sources (the
# machine running the tests is configured already), so that no archive host is written into
# the repository. Sourced by kit.sh; also runnable for a look:
#
#   tests/vm/apt-archive.sh SUITE [SOURCES-DIR]   # prints the URI that serves SUITE
#
# apt_archive SUITE [ROOT] prints the first URI of an enabled `deb` source that lists SUITE,
# reading, as apt does, ROOT/etc/apt/sources.list (one-line format) and
# ROOT/etc/apt/sources.list.d/*.list and *.sources (deb822; `Enabled: no` stanzas skipped);
# ROOT defaults to / (tests give a folder of fixtures). It prints nothing and fails when no
# source lists SUITE. Options in one-line sources (`deb [signed-by=…] URI …`) are skipped.

apt_archive() {
  local suite=$1 root=${2:-} f
  local files=()
  [ -f "$root/etc/apt/sources.list" ] && files+=("$root/etc/apt/sources.list")
  for f in "$root"/etc/apt/sources.list.d/*.list "$root"/etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || return 1
  local uri
  for f in "${files[@]}"; do
    case $f in
      *.sources) uri=$(apt_archive_deb822 "$suite" <"$f") ;;
      *) uri=$(apt_archive_oneline "$suite" <"$f") ;;
    esac
    if [ -n "$uri" ]; then
      printf '%s\n' "${uri%/}"
      return 0
    fi
  done
  return 1
}

# One-line format: `deb [options] URI SUITE COMPONENT...`, comments after `#`.
apt_archive_oneline() {
  awk -v want="$1" '
    { sub(/#.*/, "") }
    $1 != "deb" { next }
    {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      if ($(i + 1) == want) { print $i; exit }
    }'
}

# deb822: stanzas separated by blank lines, with Types:, URIs:, Suites: and Enabled: fields
# (field names are case-insensitive; a field may continue on indented lines).
apt_archive_deb822() {
  awk -v want="$1" '
    function flush(   n, s, i, u) {
      if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
        n = split(suites, s, " ")
        for (i = 1; i <= n; i++) if (s[i] == want) { split(uris, u, " "); print u[1]; found = 1; exit }
      }
      types = uris = suites = enabled = ""; last = ""
    }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { flush(); next }
    /^[ \t]/ { if (last != "") val[last] = val[last] " " $0; set(last, val[last]); next }
    {
      key = tolower($0); sub(/:.*/, "", key)
      v = $0; sub(/^[^:]*:[ \t]*/, "", v)
      last = key; val[key] = v; set(key, v)
    }
    function set(k, v) {
      gsub(/[ \t]+/, " ", v)
      if (k == "types") types = v
      else if (k == "uris") uris = v
      else if (k == "suites") suites = v
      else if (k == "enabled") enabled = v
    }
    END { if (!found) flush() }'
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  [ $# -ge 1 ] || { echo "usage: $0 SUITE [ROOT]" >&2; exit 2; }
  apt_archive "$@" || { echo "no apt source of this machine serves $1" >&2; exit 1; }
fi
