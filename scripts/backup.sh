#!/usr/bin/env bash
# Back up QUALIA_HOME from cron: create an archive, verify it, prune old ones,
# and write a health report (backup-report.txt and backup-report.json) in the
# backup folder, beside the archive. Exits non-zero if any step fails; the
# report then names the failed step. Quiet on success unless -v is given.
#
#   15 3 * * *  QUALIA_HOME=/srv/qualia /opt/qualia/scripts/backup.sh
#
# Environment:
#   QUALIA_HOME              data directory (default ~/.qualia)
#   QUALIA_BACKUP_DIR        backup folder (default $QUALIA_HOME/backups)
#   QUALIA_BACKUP_KEEP_DAYS  prune archives older than this many days (default 30)
#   QUALIA_BIN               the qualia executable (default: the one in this checkout's
#                            .venv, then the active virtualenv's, then the one on PATH)
set -euo pipefail

verbose=0
case "${1:-}" in
  -v|--verbose) verbose=1 ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [-v]" >&2; exit 2 ;;
esac

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
qualia="${QUALIA_BIN:-}"
if [[ -z "$qualia" ]]; then
  for candidate in "$script_dir/../.venv/bin/qualia" "${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/qualia}"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then qualia="$candidate"; break; fi
  done
fi
if [[ -z "$qualia" ]]; then
  qualia="$(command -v qualia || true)"
fi
if [[ -z "$qualia" ]]; then
  echo "backup.sh: cannot find the qualia command (set QUALIA_BIN, or install Qualia in $script_dir/../.venv)" >&2
  exit 127
fi

home="${QUALIA_HOME:-${HOME:?neither QUALIA_HOME nor HOME is set}/.qualia}"
backup_dir="${QUALIA_BACKUP_DIR:-$home/backups}"
keep_days="${QUALIA_BACKUP_KEEP_DAYS:-30}"
export QUALIA_HOME="$home"

started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
archive=""
size=0
verify_result="not run"
pruned=0
status="ok"
failed_step=""
message=""

json_string() {  # a JSON string literal for $1
  local s="$1"
  s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; s="${s//$'\n'/\\n}"; s="${s//$'\r'/\\r}"; s="${s//$'\t'/\\t}"
  printf '"%s"' "$s"
}

fail() {  # fail STEP MESSAGE
  status="failed"; failed_step="$1"; message="$2"
}

write_report() {
  mkdir -p "$backup_dir" 2>/dev/null || return 0
  local free finished
  free="$(df -Pk "$backup_dir" 2>/dev/null | awk 'NR == 2 { printf "%.0f", $4 * 1024 }')"
  free="${free:-0}"
  finished="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local txt="$backup_dir/.backup-report.txt.$$" json="$backup_dir/.backup-report.json.$$"
  {
    echo "status: $status"
    [[ -n "$failed_step" ]] && echo "failed step: $failed_step"
    [[ -n "$message" ]] && echo "message: ${message//$'\n'/ | }"
    echo "started: $started"
    echo "finished: $finished"
    echo "home: $home"
    echo "archive: ${archive:-none}"
    echo "size bytes: $size"
    echo "verify: ${verify_result//$'\n'/ | }"
    echo "pruned: $pruned"
    echo "disk free bytes: $free"
  } > "$txt"
  {
    printf '{\n'
    printf '  "status": %s,\n' "$(json_string "$status")"
    printf '  "failed_step": %s,\n' "$(if [[ -n "$failed_step" ]]; then json_string "$failed_step"; else echo null; fi)"
    printf '  "message": %s,\n' "$(json_string "$message")"
    printf '  "started": %s,\n' "$(json_string "$started")"
    printf '  "finished": %s,\n' "$(json_string "$finished")"
    printf '  "home": %s,\n' "$(json_string "$home")"
    printf '  "archive": %s,\n' "$(if [[ -n "$archive" ]]; then json_string "$archive"; else echo null; fi)"
    printf '  "size_bytes": %s,\n' "$size"
    printf '  "verify": %s,\n' "$(json_string "$verify_result")"
    printf '  "pruned": %s,\n' "$pruned"
    printf '  "disk_free_bytes": %s\n' "$free"
    printf '}\n'
  } > "$json"
  mv -f "$txt" "$backup_dir/backup-report.txt"
  mv -f "$json" "$backup_dir/backup-report.json"
}

errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT

if archive="$("$qualia" backup create --dir "$backup_dir" 2>"$errors")"; then
  size="$(stat -c %s "$archive" 2>/dev/null || wc -c < "$archive")"
  if verify_out="$("$qualia" backup verify --dir "$backup_dir" "$archive" 2>&1)"; then
    verify_result="ok"
    if prune_out="$("$qualia" backup prune --dir "$backup_dir" --keep-days "$keep_days" 2>"$errors")"; then
      pruned="$(grep -c '^removed ' <<<"$prune_out" || true)"
    else
      fail prune "$(cat "$errors")"
    fi
  else
    verify_result="failed: $verify_out"
    fail verify "$verify_out"
  fi
else
  if [[ -n "$archive" && -f "$archive" ]]; then  # written, but a database was already damaged
    size="$(stat -c %s "$archive" 2>/dev/null || echo 0)"
  else
    archive=""
  fi
  fail create "$(cat "$errors")"
fi

write_report
if [[ "$status" != ok ]]; then
  echo "backup.sh: $failed_step failed: $message" >&2
  echo "backup.sh: report: $backup_dir/backup-report.txt" >&2
  exit 1
fi
if (( verbose )); then
  cat "$backup_dir/backup-report.txt"
fi
