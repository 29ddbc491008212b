# ceph.sh - a real one-node Ceph cluster for a system test, in a folder of
# its own.
#
# Source it after common.sh.  It gives a test
#   - need_ceph: skip the test (with the reason) when ceph-mon, ceph-osd or
#     the ceph and rados tools are not installed (`make deps` installs them);
#   - ceph_start [POOL]: one ceph-mon and one ceph-osd (osd objectstore =
#     memstore: the objects live in the osd's memory, 1 GiB at most) in a
#     new folder $CEPH_DIR, with a new fsid, a generated cephx keyring and
#     every path (data, logs, sockets, pid files) inside the folder, no
#     systemd and no manager; the mon listens on a free port of 127.0.0.1
#     (CEPH_MEMSTORE_BYTES, when set, gives the osd more memory than 1 GiB).
#     It creates the pool POOL (default "dcmfs", size 1) and waits until an
#     object can be written.  It sets CEPH_CONF (its ceph.conf, which also
#     names the keyring), CEPH_URL (rados://POOL?conf=$CEPH_CONF, the
#     connection string the store takes), CEPH_MON_PID, CEPH_OSD_PID and
#     CEPH_START_SECONDS.  Returns non-zero, with the logs as comments, when
#     the cluster does not come up;
#   - ceph_ready: the pool takes a write;
#   - ceph_rados ARGS...: the rados tool on the test's cluster and pool;
#   - ceph_stop: stop both daemons by pid (SIGTERM, then SIGKILL) and remove
#     $CEPH_DIR.  It also runs at exit; a test killed with SIGKILL is
#     cleaned up by a watchdog (servers.sh).
#
# Each cluster has its own fsid, port and folder, so tests can run at once.

. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

CEPH_DIR=
CEPH_CONF=
CEPH_URL=
CEPH_POOL=
CEPH_MON_PID=
CEPH_OSD_PID=
CEPH_WATCHDOG=
CEPH_START_SECONDS=

need_ceph() {
	local p
	for p in ceph-mon ceph-osd ceph-authtool monmaptool ceph rados; do
		command -v $p >/dev/null || skip_all "no $p: run make deps"
	done
}

# ceph_conf_write PORT: the cluster's ceph.conf.
ceph_conf_write() {
	local d=$CEPH_DIR
	cat >"$CEPH_CONF" <<-EOF
	[global]
	fsid = $(cat /proc/sys/kernel/random/uuid)
	mon host = v2:127.0.0.1:$1
	public addr = 127.0.0.1
	ms bind ipv6 = false
	auth cluster required = cephx
	auth service required = cephx
	auth client required = cephx
	keyring = $d/keyring
	run dir = $d/run
	admin socket = $d/run/\$name.asok
	pid file = $d/run/\$name.pid
	log file = $d/log/\$name.log
	mon data = $d/mon/\$name
	osd data = $d/osd/\$name
	osd objectstore = memstore
	memstore device bytes = ${CEPH_MEMSTORE_BYTES:-1073741824}
	mon max pg per osd = 1000
	osd pool default size = 1
	osd pool default min size = 1
	osd pool default pg num = 8
	osd crush chooseleaf type = 0
	mon allow pool size one = true
	mon allow pool delete = true
	mon warn on pool no redundancy = false
	mon data avail warn = 1
	mon data avail crit = 1
	osd max object size = 134217728
	osd max markdown count = 1000
	EOF
}

# ceph_mon_up: make and start the monitor; 1 when it does not answer.
ceph_mon_up() {
	local port i fsid
	port=$(free_port)
	ceph_conf_write "$port"
	fsid=$(sed -n 's/^fsid = //p' "$CEPH_CONF")
	rm -rf "$CEPH_DIR/mon" "$CEPH_DIR/monmap"
	mkdir -p "$CEPH_DIR/mon/mon.a"
	monmaptool --create --addv a "[v2:127.0.0.1:$port]" --fsid "$fsid" \
		"$CEPH_DIR/monmap" >>"$CEPH_DIR/setup.log" 2>&1 || return 1
	ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" \
		--keyring "$CEPH_DIR/keyring" >>"$CEPH_DIR/setup.log" 2>&1 || return 1
	ceph-mon -c "$CEPH_CONF" -i a -f </dev/null >>"$CEPH_DIR/log/mon.out" 2>&1 &
	CEPH_MON_PID=$!
	for ((i = 0; i < 100; i++)); do
		kill -0 "$CEPH_MON_PID" 2>/dev/null || return 1   # e.g. the port was taken
		ceph -c "$CEPH_CONF" --connect-timeout 2 mon stat >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

ceph_start() {
	local pool=${1:-dcmfs} t0 t1 i uuid
	t0=$(date +%s.%N)
	CEPH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dcmfs-ceph.XXXXXX") || return 1
	at_exit ceph_stop
	CEPH_CONF=$CEPH_DIR/ceph.conf
	CEPH_POOL=$pool
	mkdir -p "$CEPH_DIR/run" "$CEPH_DIR/log" "$CEPH_DIR/osd/osd.0"
	CEPH_WATCHDOG=$(server_watchdog "$CEPH_DIR" "$CEPH_DIR/run/mon.a.pid" "$CEPH_DIR/run/osd.0.pid")
	{
		ceph-authtool --create-keyring "$CEPH_DIR/keyring" --gen-key -n mon. --cap mon 'allow *' &&
			ceph-authtool "$CEPH_DIR/keyring" --gen-key -n client.admin \
				--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' &&
			ceph-authtool "$CEPH_DIR/keyring" --gen-key -n osd.0 \
				--cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd'
	} >>"$CEPH_DIR/setup.log" 2>&1 || { diag <"$CEPH_DIR/setup.log"; return 1; }
	# A free port can be taken between free_port and the bind: try again.
	for ((i = 0; i < 3; i++)); do
		ceph_mon_up && break
		[ -n "$CEPH_MON_PID" ] && kill -9 "$CEPH_MON_PID" 2>/dev/null && wait "$CEPH_MON_PID" 2>/dev/null
		CEPH_MON_PID=
	done
	[ -n "$CEPH_MON_PID" ] || { ceph_diag; return 1; }
	uuid=$(cat /proc/sys/kernel/random/uuid)
	{
		ceph -c "$CEPH_CONF" osd new "$uuid" 0 &&
			ceph-osd -c "$CEPH_CONF" -i 0 --mkfs --osd-uuid "$uuid"
	} >>"$CEPH_DIR/setup.log" 2>&1 || { ceph_diag; return 1; }
	ceph-osd -c "$CEPH_CONF" -i 0 -f </dev/null >>"$CEPH_DIR/log/osd.out" 2>&1 &
	CEPH_OSD_PID=$!
	# A pool made before its osd is up may not take writes for minutes.
	for ((i = 0; i < 300; i++)); do
		timeout 5 ceph -c "$CEPH_CONF" osd dump 2>/dev/null | grep -q '^osd\.0 up ' && break
		kill -0 "$CEPH_OSD_PID" 2>/dev/null || break
		sleep 0.1
	done
	ceph -c "$CEPH_CONF" osd pool create "$pool" 8 8 replicated >>"$CEPH_DIR/setup.log" 2>&1 &&
		ceph -c "$CEPH_CONF" osd pool set "$pool" size 1 --yes-i-really-mean-it >>"$CEPH_DIR/setup.log" 2>&1 &&
		ceph -c "$CEPH_CONF" osd pool application enable "$pool" rados >>"$CEPH_DIR/setup.log" 2>&1 ||
		{ ceph_diag; return 1; }
	CEPH_URL="rados://$pool?conf=$CEPH_CONF"
	for ((i = 0; i < 600; i++)); do
		ceph_ready && break
		kill -0 "$CEPH_OSD_PID" 2>/dev/null || break
		sleep 0.1
	done
	ceph_ready || { ceph_diag; return 1; }
	t1=$(date +%s.%N)
	CEPH_START_SECONDS=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
}

# ceph_diag: the setup log and the ends of the daemons' logs, as comments.
ceph_diag() {
	local f
	for f in "$CEPH_DIR/setup.log" "$CEPH_DIR"/log/*; do
		[ -s "$f" ] && { echo "== $f"; tail -15 "$f"; }
	done | diag
}

# ceph_pool_create NAME: one more pool of size 1 for RADOS objects.
ceph_pool_create() {
	ceph -c "$CEPH_CONF" osd pool create "$1" 8 8 replicated &&
		ceph -c "$CEPH_CONF" osd pool set "$1" size 1 --yes-i-really-mean-it &&
		ceph -c "$CEPH_CONF" osd pool application enable "$1" rados
}

ceph_rados() {
	rados -c "$CEPH_CONF" -p "$CEPH_POOL" "$@"
}

ceph_ready() {
	[ -n "$CEPH_DIR" ] &&
		echo ready | timeout 5 rados -c "$CEPH_CONF" -p "$CEPH_POOL" \
			put .dcmfs-ready - >/dev/null 2>&1
}

ceph_stop() {
	local p i
	for p in $CEPH_OSD_PID $CEPH_MON_PID; do
		kill "$p" 2>/dev/null || continue
		for ((i = 0; i < 50; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "$CEPH_WATCHDOG" ] && kill "$CEPH_WATCHDOG" 2>/dev/null
	[ -n "$CEPH_DIR" ] && rm -rf "$CEPH_DIR"
	CEPH_OSD_PID= CEPH_MON_PID= CEPH_WATCHDOG= CEPH_DIR=
	return 0
}
