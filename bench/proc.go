package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// The kernel fixes it at 100 for user space on every architecture Linux
// supports today (sysconf(_SC_CLK_TCK)).
const clockTicks = 100

// proc is a long-running process started in a namespace with `ip netns
// exec`, which execs the command in place, so the PID is the program's
// own. One goroutine waits for it; done closes when it has exited.
// stop may be called more than once and from any goroutine.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done closes
}

func startProc(name string, ns string, logFile *os.File, env []string, args ...string) (*proc, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Env = env // nil: the harness's own
	if logFile != nil {
		cmd.Stdout, cmd.Stderr = logFile, logFile
	}
	// Its own process group, so a terminal's Ctrl-C reaches the harness,
	// which then stops the nodes in order (they are killed at the latest
	// when the harness's cleanup runs).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to end with SIGTERM, waits up to grace and then
// kills it. It returns once the process has exited.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	p.cmd.Process.Kill()
	<-p.done
}

// sample reads the process's peak RSS and CPU time from /proc.
func (p *proc) sample() (rss int64, cpu float64, err error) {
	base := "/proc/" + strconv.Itoa(p.pid())
	st, err := os.ReadFile(base + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("sampling %s: %w", p.name, err)
	}
	if rss, err = ParseVmHWM(st); err != nil {
		return 0, 0, fmt.Errorf("sampling %s: %w", p.name, err)
	}
	sb, err := os.ReadFile(base + "/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("sampling %s: %w", p.name, err)
	}
	ticks, err := ParseCPUTicks(sb)
	if err != nil {
		return 0, 0, fmt.Errorf("sampling %s: %w", p.name, err)
	}
	return rss, float64(ticks) / clockTicks, nil
}
