# The kept data directories, one a line, then the time of the last file sync.
for d in "$pgdata".kept-*; do [ -d "$d" ] && echo "$d"; done
echo "synced $(cat /etc/sounz/last-file-sync 2>/dev/null || echo never)"
