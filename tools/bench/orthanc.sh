#!/bin/bash
# orthanc.sh DIR COMPRESSION LIST... : run inside `unshare -n` (a private
# network namespace with only lo).  Starts a private Orthanc with its own
# configuration, storage and index under DIR, StorageCompression COMPRESSION
# (true|false), RemoteAccessAllowed false, DICOM server off; uploads each
# LIST (a file of paths) in turn through the REST API, reading du -sb of the
# storage after each; reads every instance back; stops Orthanc by its pid.
# Prints key=value lines: list<i>.{seconds,bytes,files,success,already,failed,stored}
# and readback.{seconds,bytes,files}, orthanc.peak_rss_kb.
set -euo pipefail
dir=$1 comp=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
[ "$(ip -o link show | wc -l)" = 1 ] || { echo "orthanc.sh: not in a private network namespace; refusing" >&2; exit 2; }
ip link set lo up
port=18042
rm -rf "$dir"
mkdir -p "$dir/storage" "$dir/index"
cat > "$dir/orthanc.json" <<JSON
{
  "Name": "dcmfs-bench",
  "StorageDirectory": "$dir/storage",
  "IndexDirectory": "$dir/index",
  "StorageCompression": $comp,
  "HttpPort": $port,
  "DicomServerEnabled": false,
  "DicomPort": 14242,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "Plugins": [],
  "SaveJobs": false,
  "LimitFindResults": 0
}
JSON
Orthanc "$dir/orthanc.json" > "$dir/orthanc.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$port/system" >/dev/null && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$port/system" >/dev/null || { echo "orthanc.sh: Orthanc did not start (see $dir/orthanc.log)" >&2; exit 2; }
# what it listens on (must be inside this namespace only)
ss -ltnp 2>/dev/null | grep -i orthanc | sed 's/^/# listening (private netns): /' >&2 || true
i=0
for list in "$@"; do
	i=$((i + 1))
	read -r s b n ok dup bad < <(python3 "$here/orthanc_load.py" $port upload "$list")
	st=$(du -sb "$dir/storage" | cut -f1)
	ix=$(du -sb "$dir/index" | cut -f1)
	echo "list$i.seconds=$s list$i.bytes=$b list$i.files=$n list$i.success=$ok list$i.already=$dup list$i.failed=$bad list$i.stored=$st list$i.index=$ix"
done
read -r s b n < <(python3 "$here/orthanc_load.py" $port readback)
echo "readback.seconds=$s readback.bytes=$b readback.files=$n"
echo "orthanc.peak_rss_kb=$(awk '/VmHWM/{print $2}' /proc/$pid/status)"
kill $pid
wait $pid 2>/dev/null || true
trap - EXIT
