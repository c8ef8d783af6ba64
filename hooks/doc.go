// Package hooks owns the event scripts of VpnCloud's --hook / hooks
// settings: which script runs for which event, the environment it gets
// (EVENT, IFNAME and the event's variables, named exactly as VpnCloud
// names them), and running it without ever blocking the caller.
//
// A Runner has a bounded queue served by one worker goroutine. Fire never
// blocks: when the queue is full the event is dropped, counted and logged.
// Each script runs as `sh -c SCRIPT` with the process environment plus the
// event's variables, its output is logged, and it is killed (with its
// process group) when it runs longer than the timeout.
package hooks
