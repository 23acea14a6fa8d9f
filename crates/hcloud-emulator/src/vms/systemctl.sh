#!/bin/bash
# systemctl STAND-IN for local-cloud VMs: no systemd runs here. It knows
# daemon-reload, enable [--now], disable, start, stop, restart, is-active,
# is-enabled (both silent with -q/--quiet) and status for simple units in
# /etc/systemd/system: ExecStart (continuation lines joined) runs as a
# background process with the unit's Environment= and EnvironmentFile=
# settings; output goes to /var/log/<unit>.log. `--boot` starts every enabled unit.
set -uo pipefail
units=/etc/systemd/system
wants=$units/multi-user.target.wants
run=/run/systemctl-standin
mkdir -p "$run" "$wants"

unit_name() { case $1 in *.*) echo "$1" ;; *) echo "$1.service" ;; esac; }

# Prints the unit's settings KEY=VALUE, one per line, continuation joined.
settings() {
  local line joined=""
  while IFS= read -r line || [ -n "$line" ]; do
    if [ "${line%\\}" != "$line" ]; then joined+="${line%\\} "; continue; fi
    joined+="$line"
    printf '%s\n' "$joined"
    joined=""
  done < "$units/$1"
}

pid_of() { [ -f "$run/$1.pid" ] && cat "$run/$1.pid"; }
active() { local p; p=$(pid_of "$1") && kill -0 "$p" 2>/dev/null; }

start() {
  local u=$1 exec="" envs=() envfiles=() kv
  [ -f "$units/$u" ] || { echo "Unit $u not found." >&2; return 5; }
  active "$u" && return 0
  while IFS= read -r kv; do
    case $kv in
      ExecStart=*) [ -z "$exec" ] && exec=${kv#ExecStart=} ;;
      Environment=*) envs+=("${kv#Environment=}") ;;
      EnvironmentFile=*) envfiles+=("${kv#EnvironmentFile=}") ;;
    esac
  done < <(settings "$u")
  exec=${exec#-}; exec=${exec#@}
  [ -n "$exec" ] || { echo "$u has no ExecStart" >&2; return 1; }
  (
    # shellcheck source=/dev/null
    for f in "${envfiles[@]}"; do f=${f#-}; [ -f "$f" ] && { set -a; . "$f"; set +a; }; done
    for e in "${envs[@]}"; do eval "export $e"; done
    exec setsid /bin/sh -c "exec $exec" >> "/var/log/${u%.service}.log" 2>&1 < /dev/null
  ) &
  echo $! > "$run/$u.pid"
}

stop() {
  local p; p=$(pid_of "$1") || return 0
  kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
  rm -f "$run/$1.pid"
}

now=false; quiet=false; cmd=""; names=()
for a in "$@"; do
  case $a in
    --now) now=true ;;
    -q | --quiet) quiet=true ;;
    --boot) cmd=boot ;;
    -*) ;;
    *) if [ -z "$cmd" ]; then cmd=$a; else names+=("$(unit_name "$a")"); fi ;;
  esac
done
say() { $quiet || echo "$1"; }
rc=0
case $cmd in
  daemon-reload|reset-failed) ;;
  is-system-running) echo running ;;
  boot) for l in "$wants"/*; do [ -e "$l" ] && start "$(basename "$l")"; done ;;
  enable) for u in "${names[@]}"; do ln -sf "$units/$u" "$wants/$u"; $now && { start "$u" || rc=$?; }; done ;;
  disable) for u in "${names[@]}"; do rm -f "$wants/$u"; $now && stop "$u"; done ;;
  start) for u in "${names[@]}"; do start "$u" || rc=$?; done ;;
  stop) for u in "${names[@]}"; do stop "$u"; done ;;
  restart) for u in "${names[@]}"; do stop "$u"; sleep 0.2; start "$u" || rc=$?; done ;;
  is-active) for u in "${names[@]}"; do if active "$u"; then say active; else say inactive; rc=3; fi; done ;;
  is-enabled) for u in "${names[@]}"; do if [ -e "$wants/$u" ]; then say enabled; else say disabled; rc=1; fi; done ;;
  status) for u in "${names[@]}"; do if active "$u"; then echo "$u: active (running) pid $(pid_of "$u")"; else echo "$u: inactive"; rc=3; fi; done ;;
  *) echo "systemctl stand-in: $cmd is not supported" >&2; rc=1 ;;
esac
exit $rc
