#!/bin/bash
# journalctl STAND-IN for local-cloud VMs: no journald runs here. The
# systemctl stand-in sends a unit's output to /var/log/<unit>.log;
# `journalctl -u UNIT [-n N] [--no-pager]` prints that file's last N lines
# (all without -n). Other options are accepted and ignored.
set -uo pipefail
units=() lines=""
while [ $# -gt 0 ]; do
  case $1 in
    -u | --unit) units+=("${2:-}"); shift ;;
    --unit=*) units+=("${1#--unit=}") ;;
    -n | --lines) lines=${2:-}; shift ;;
    --lines=*) lines=${1#--lines=} ;;
    -n*) lines=${1#-n} ;;
  esac
  shift
done
[ ${#units[@]} -gt 0 ] || { echo "journalctl stand-in: give a unit with -u" >&2; exit 1; }
for u in "${units[@]}"; do
  log="/var/log/${u%.service}.log"
  [ -f "$log" ] || { echo "-- No entries --"; continue; }
  if [ -n "$lines" ]; then tail -n "$lines" "$log"; else cat "$log"; fi
done
