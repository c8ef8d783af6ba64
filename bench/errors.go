package bench

import "errors"

// Sentinel errors. Every error the package returns wraps one of these (or
// an error from the system), so callers can tell kinds apart with errors.Is.
var (
	// ErrMissingTool: a program the harness needs (iperf3, ping, ip, wg,
	// nebula-cert) is not installed. The message names the apt-get command.
	ErrMissingTool = errors.New("missing tool")
	// ErrNotRoot: the harness needs root for namespaces and TUN devices.
	ErrNotRoot = errors.New("needs root")
	// ErrIperfOutput: iperf3's JSON could not be read or reported an error.
	ErrIperfOutput = errors.New("bad iperf3 output")
	// ErrPingOutput: ping's output had no reply times.
	ErrPingOutput = errors.New("bad ping output")
	// ErrProcFile: a /proc/PID/status or /proc/PID/stat file could not be parsed.
	ErrProcFile = errors.New("bad /proc file")
	// ErrTunnelDown: the tunnel did not pass a ping within the wait time.
	ErrTunnelDown = errors.New("tunnel did not come up")
	// ErrConfig: the harness configuration is invalid (unknown cipher,
	// unknown baseline, no contenders).
	ErrConfig = errors.New("invalid bench config")
)
