#!/usr/bin/env bash
# The Slurm tests (test/slurm-*.test.ts) start a one-node Slurm of their own
# (test/support/slurm.ts) from Debian's slurm-wlm and munge. Installs them when
# sbatch, slurmctld, slurmd or munged is missing and this shell may (root and
# apt-get); says what it did; exits non-zero with the reason if it cannot.
set -u
missing=()
for tool in sbatch slurmctld slurmd munged; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" = 0 ]; then
  echo "ensure-slurm: slurm-wlm and munge are present ($(dpkg-query -W -f '${Version}' slurm-wlm 2>/dev/null))"
  exit 0
fi
echo "ensure-slurm: missing ${missing[*]}"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-slurm: cannot install (needs root and apt-get); install Debian's slurm-wlm and munge (apt-get install slurm-wlm munge)" >&2
  exit 1
fi
echo "ensure-slurm: installing slurm-wlm and munge (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp -t ensure-slurm.XXXXXX)"
if ! { apt-get update -q && apt-get install -y -q slurm-wlm munge; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "ensure-slurm: apt-get could not install slurm-wlm and munge (log: $log)" >&2
  exit 1
fi
rm -f "$log"
for tool in sbatch slurmctld slurmd munged; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "ensure-slurm: $tool is still missing after installing slurm-wlm and munge" >&2
    exit 1
  fi
done
echo "ensure-slurm: installed slurm-wlm $(dpkg-query -W -f '${Version}' slurm-wlm 2>/dev/null)"
exit 0
