# Shared by the rsync daemon's scripts (providers/rsyncDaemon.ts).
#
# Something listening on the port is not enough: sshd on 22 listens too, and a daemon that could not
# bind its port exits. An rsync daemon greets every connection with "@RSYNCD: <protocol>" before it
# checks who is asking (so from the host itself too); sshd says "SSH-2.0-...", a web server nothing.
# The daemon binds every address when rsyncd.conf names none, so the host asks itself on 127.0.0.1.
# Having seen the greeting, it answers in kind and asks for the module list, so that the daemon logs a
# "module-list request" rather than a protocol error in the general log.
greets() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && IFS= read -r greeting <&3 &&
    case $greeting in "@RSYNCD: "*) printf "@RSYNCD: 30.0\n#list\n" >&3; cat <&3 >/dev/null;; *) exit 1;; esac' \
    greets "$1" 2>/dev/null
}

# A greeting is not enough either: any local user may bind the port while our daemon is down (rsync
# --daemon detaches before it binds, so its exit code says nothing). Ours is our daemon (the main
# process of its unit where systemd runs, that of its pidfile elsewhere) holding every listening socket
# on the port (ss -p names each socket's processes), and greeting.
daemon_of() { # pidfile unit
  if systemd_runs; then unit_pid "$2"; else cat "$1" 2>/dev/null; fi
}
ours() { # port pidfile unit
  daemon=$(daemon_of "$2" "$3") || return 1
  [ -n "$daemon" ] || return 1
  listeners=$(ss -Hltnp "sport = :$1")
  [ -n "$listeners" ] && ! printf '%s\n' "$listeners" | grep -qv "pid=$daemon," && greets "$1"
}

# Who listens on the port, for a message.
holders() { # port
  ss -Hltnp "sport = :$1" | grep -o 'users:.*' | sort -u | tr '\n' ' '
}

# The trust files beside the config: the secrets file (the pair's user and password) and the folder
# of the proof module (the token). Root's alone: rsync refuses a secrets file others may read, and the
# token proves this daemon to the peer.
secrets_of() { echo "${1%.conf}.secrets"; }
proof_of() { echo "${1%.conf}.proof"; }
