#!/usr/bin/env bash
# `ken cluster render systemd` writes units that systemd-analyze verify
# accepts without a word (it exits 0 on unknown keys and bad values but
# prints them, so any output fails), for every node id of the config.
set -euo pipefail
ken="$PWD/cli/ken"
config="$PWD/cluster/testdata/render/cluster.yaml"
out="$(mktemp -d "${TEST_TMPDIR:-/tmp}/systemd.XXXXXX")"
trap 'rm -rf "$out"' EXIT
"$ken" cluster render systemd "$config" -o "$out" >/dev/null
units="$out/etc/systemd/system"
test -f "$units/ken@.service" && test -f "$units/ken.target" && test -f "$out/etc/ken/cluster.yaml"
test "$(stat -c %a "$out/etc/ken/token")" = 600
# The unit runs /usr/local/bin/ken; verify checks that its ExecStart exists.
sed -i "s|/usr/local/bin/ken|$ken|" "$units/ken@.service"
checked=0
for id in driver bank-1 bank-2; do
  cp "$units/ken@.service" "$units/ken@$id.service"
  test -f "$units/ken@$id.service.d/memory.conf"
  checked=$((checked + 1))
done
report="$(cd "$units" && systemd-analyze verify --man=no ./ken@driver.service ./ken@bank-1.service ./ken@bank-2.service ./ken.target 2>&1)" || {
  echo "systemd-analyze verify failed: $report"; exit 1; }
if [ -n "$report" ]; then echo "systemd-analyze verify complained: $report"; exit 1; fi
# A unit it would complain about makes this test fail (the check can fail).
sed -i 's/^Restart=on-failure/Restart=sometimes/' "$units/ken@driver.service"
bad="$(cd "$units" && systemd-analyze verify --man=no ./ken@driver.service 2>&1 || true)"
case "$bad" in *Restart*|*restart*) ;; *) echo "systemd-analyze did not notice a bad unit: $bad"; exit 1;; esac
echo "verified $checked units and ken.target"
