# Shared by the scripts of the services the program runs on a host (the guard, the rsync daemons).
# Where systemd is PID 1 each is a unit of ours in /etc/systemd/system: enabled and started where the
# role runs it, so that systemd restarts it and starts it at boot; disabled, stopped and removed
# elsewhere. A host without systemd keeps pidfiles (and cron where one must come back by itself).
systemd_runs() { [ -d /run/systemd/system ]; }

# Writes the unit's file; true when it changed (systemd has then read it again).
unit_write() { # unit content
  unitfile=/etc/systemd/system/$1
  # A name that does not end in .service: systemd never reads the half-written file.
  unittmp=$(mktemp "/etc/systemd/system/.$1.XXXXXX")
  printf '%s' "$2" >"$unittmp"
  if cmp -s "$unittmp" "$unitfile"; then rm -f "$unittmp"; return 1; fi
  chmod 0644 "$unittmp"
  mv -f "$unittmp" "$unitfile"
  systemctl daemon-reload
}

# Enabled, and running; restarted when `changed` is yes (its program or its arguments changed). A unit
# that failed to start too often in a row (systemd's start limit) is allowed to start again.
unit_run() { # unit changed
  systemctl reset-failed "$1" 2>/dev/null || true
  systemctl enable --quiet "$1"
  if [ "$2" = yes ]; then systemctl restart "$1"; else systemctl start "$1"; fi
}

# Stopped, disabled, its file gone; nothing to do for a unit that has no file.
unit_remove() { # unit
  [ -e "/etc/systemd/system/$1" ] || return 0
  systemctl disable --now --quiet "$1" 2>/dev/null || true
  rm -f "/etc/systemd/system/$1"
  systemctl daemon-reload
  systemctl reset-failed "$1" 2>/dev/null || true
}

# Ours and running: the unit's file says `content`, and the unit is active.
unit_ours() { # unit content
  [ "$(cat "/etc/systemd/system/$1" 2>/dev/null)" = "$(printf '%s' "$2")" ] && systemctl is-active --quiet "$1"
}

# The unit's main process, empty when it has none.
unit_pid() { # unit
  unitpid=$(systemctl show -p MainPID --value "$1" 2>/dev/null) || return 0
  [ "$unitpid" = 0 ] || echo "$unitpid"
}
