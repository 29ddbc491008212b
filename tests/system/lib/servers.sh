# servers.sh - what the server harnesses (pg.sh, ceph.sh) share.
#
# A server a test starts must not outlive the test, even one killed with
# SIGKILL, whose exit trap never runs: server_watchdog covers that case.

# server_watchdog DIR PIDFILE...: a process that, once this test's shell
# ($$) is gone without stopping its servers (kill -9), kills the pids named
# by the first line of each PIDFILE and removes DIR.  It prints its own pid.
# It holds none of the test's output open, so prove does not wait for it.
server_watchdog() {
	# A new bash (exec) with only stdin, stdout and stderr open: a subshell
	# would keep the test's saved output descriptors, and prove would wait.
	bash -c '
		trap "" INT HUP     # SIGTERM (pg_stop, ceph_stop) ends it
		for fd in /proc/$$/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		test_pid=$1 dir=$2
		shift 2
		while kill -0 "$test_pid" 2>/dev/null; do sleep 1; done
		for f in "$@"; do
			p=$(head -1 "$f" 2>/dev/null)
			[ -n "$p" ] && kill -9 "$p" 2>/dev/null
		done
		sleep 0.5
		rm -rf "$dir"
	' server-watchdog "$$" "$@" </dev/null >/dev/null 2>&1 &
	echo $!
}
