// Package service owns what it takes to run peercloud as a system daemon:
// readiness, status and watchdog notifications to systemd (sd_notify), the
// privilege drop to --user/--group that keeps CAP_NET_ADMIN on one locked
// OS thread for the kernel routes the daemon still changes at run time,
// VpnCloud's --daemon/--pid-file (a re-executed, detached child that
// reports readiness through a pipe), and the rp_filter check and fix of
// VpnCloud (CVE-2019-14899). It knows nothing about the VPN itself.
package service
