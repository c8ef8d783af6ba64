package service

import (
	"context"
	"fmt"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// Notifier sends sd_notify(3) messages to the service manager named by
// $NOTIFY_SOCKET. Without that variable every method does nothing, so the
// daemon calls them unconditionally. It is safe for concurrent use.
type Notifier struct {
	log *zap.Logger
}

// NewNotifier returns a Notifier logging its failures to log (nil: none).
func NewNotifier(log *zap.Logger) *Notifier {
	if log == nil {
		log = zap.NewNop()
	}
	return &Notifier{log: log}
}

func (n *Notifier) send(state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		n.log.Debug("sd_notify failed", zap.String("state", state), zap.Error(err))
	}
}

// Ready tells the manager that the service is up (READY=1) with a status
// line.
func (n *Notifier) Ready(status string) { n.send(sd.SdNotifyReady + "\nSTATUS=" + status) }

// Status sets the one-line status systemctl status shows.
func (n *Notifier) Status(status string) { n.send("STATUS=" + status) }

// Reloading tells the manager a configuration reload started; call Ready
// when it is done.
func (n *Notifier) Reloading() {
	n.send(fmt.Sprintf("%s\nMONOTONIC_USEC=%d", sd.SdNotifyReloading, monotonicUsec()))
}

// Stopping tells the manager that the service is shutting down.
func (n *Notifier) Stopping() { n.send(sd.SdNotifyStopping + "\nSTATUS=shutting down") }

// Watchdog pings the manager's watchdog (WATCHDOG=1) at half the interval
// it asked for ($WATCHDOG_USEC for this pid) until ctx is done, but only
// while alive succeeds: alive gets a context that expires before the next
// ping is due, and a stuck or stopped control goroutine (alive failing or
// timing out) stops the pings, so the manager restarts the service.
// Without a watchdog it returns at once.
func (n *Notifier) Watchdog(ctx context.Context, alive func(context.Context) error) {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("invalid watchdog settings from the service manager", zap.Error(err))
		return
	}
	if interval <= 0 {
		return
	}
	n.watchdog(ctx, interval/2, alive)
}

func (n *Notifier) watchdog(ctx context.Context, every time.Duration, alive func(context.Context) error) {
	n.log.Debug("watchdog enabled", zap.Duration("ping_every", every))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, every)
		err := alive(actx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			n.log.Error("control loop not responding, not pinging the watchdog", zap.Error(err))
		} else {
			n.send(sd.SdNotifyWatchdog)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
