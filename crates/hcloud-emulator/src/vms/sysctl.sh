#!/bin/bash
# sysctl STAND-IN for local-cloud VMs. VMs share the host's kernel, so most
# settings written here would change the host: this stand-in records them in
# /run/sysctl-standin instead. Only net.ipv4.* and net.ipv6.* are applied for
# real, as they belong to the VM's own network namespace (NAT on a control
# plane needs net.ipv4.ip_forward). Knows -q, -w, -n, -e, -p [FILE],
# --system and key=value / key arguments; reads fall back to /proc/sys,
# read-only.
set -uo pipefail
store=/run/sysctl-standin
mkdir -p "$store"
quiet=false names_only=false values_only=false rc=0

norm() { local k=${1//\//.}; echo "${k#.}"; }
own_netns() { case $1 in net.ipv4.* | net.ipv6.*) return 0 ;; *) return 1 ;; esac; }

show() {
  $quiet && return 0
  if $values_only; then echo "$2"; elif $names_only; then echo "$1"; else echo "$1 = $2"; fi
}

get() {
  local k; k=$(norm "$1")
  if [ -f "$store/$k" ] && ! own_netns "$k"; then
    show "$k" "$(cat "$store/$k")"
  elif [ -r "/proc/sys/${k//.//}" ]; then
    show "$k" "$(tr '\t' ' ' < "/proc/sys/${k//.//}")"
  else
    echo "sysctl: cannot stat /proc/sys/${k//.//}: No such file or directory" >&2
    rc=255
  fi
}

set_one() {
  local k v
  k=$(norm "${1%%=*}"); v=${1#*=}
  k=${k%"${k##*[![:space:]]}"}; v=${v#"${v%%[![:space:]]*}"}
  if own_netns "$k"; then
    if ! printf '%s\n' "$v" > "/proc/sys/${k//.//}" 2>/dev/null; then
      echo "sysctl: setting key \"$k\": not permitted in this VM" >&2
      rc=1
      return
    fi
  else
    printf '%s\n' "$v" > "$store/$k"
  fi
  show "$k" "$v"
}

load() {
  local line
  [ -r "$1" ] || { echo "sysctl: cannot open \"$1\": No such file or directory" >&2; rc=1; return; }
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line#"${line%%[![:space:]]*}"}
    case $line in '' | '#'* | ';'*) continue ;; esac
    line=${line#-}
    case $line in *=*) set_one "$line" ;; esac
  done < "$1"
}

files=() args=() system=false
while [ $# -gt 0 ]; do
  case $1 in
    -q | --quiet) quiet=true ;;
    -n | --values) values_only=true ;;
    -N | --names) names_only=true ;;
    -w | --write | -e | --ignore) ;;
    -p | --load)
      if [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; then files+=("$2"); shift; else files+=(/etc/sysctl.conf); fi ;;
    -p*) files+=("${1#-p}") ;;
    --load=*) files+=("${1#--load=}") ;;
    --system) system=true ;;
    -qw | -wq) quiet=true ;;
    -*) echo "sysctl stand-in: option $1 is not supported" >&2; exit 1 ;;
    *) args+=("$1") ;;
  esac
  shift
done
if $system; then
  for f in /usr/lib/sysctl.d/*.conf /run/sysctl.d/*.conf /etc/sysctl.d/*.conf /etc/sysctl.conf; do
    [ -f "$f" ] && { $quiet || echo "* Applying $f ..."; load "$f"; }
  done
fi
for f in "${files[@]}"; do load "$f"; done
for a in "${args[@]}"; do
  case $a in *=*) set_one "$a" ;; *) get "$a" ;; esac
done
exit $rc
