package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/peercloud/peercloud/status"
)

// statusOptions are `peercloud status`'s flags.
type statusOptions struct {
	json   bool
	socket string // explicit control socket path
	device string // device name: the socket is status.DefaultPath(device)
}

// socketPath picks the control socket: --socket; else -d's path in this
// network namespace; else the only daemon's socket of this namespace in
// dir.
func (o *statusOptions) socketPath(dir string) (string, error) {
	if o.socket != "" {
		return o.socket, nil
	}
	self, _ := os.Readlink("/proc/self/ns/net")
	own := ""
	if id, ok := strings.CutPrefix(self, "net:["); ok {
		own = "@net" + strings.TrimSuffix(id, "]")
	}
	if o.device != "" {
		plain := filepath.Join(dir, o.device+".sock")
		if own != "" {
			if p := filepath.Join(dir, o.device+own+".sock"); exists(p) {
				return p, nil
			}
		}
		return plain, nil
	}
	all, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	var mine, host []string
	for _, m := range all {
		switch name := strings.TrimSuffix(filepath.Base(m), ".sock"); {
		case own != "" && strings.HasSuffix(name, own):
			mine = append(mine, m)
		case !strings.Contains(name, "@net"):
			host = append(host, m)
		}
	}
	if mine = live(mine); len(mine) == 0 {
		mine = live(host)
	}
	switch len(mine) {
	case 0:
		return "", fmt.Errorf("no running peercloud daemon found (no control socket in %s)", dir)
	case 1:
		return mine[0], nil
	}
	names := make([]string, len(mine))
	for i, m := range mine {
		names[i] = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(m), ".sock"), own)
	}
	return "", fmt.Errorf("several daemons are running (%s): choose one with -d DEVICE", strings.Join(names, ", "))
}

// live keeps the sockets a daemon answers on: a daemon killed without
// its cleanup leaves its socket file behind.
func live(paths []string) []string {
	var out []string
	for _, p := range paths {
		if c, err := net.DialTimeout("unix", p, time.Second); err == nil {
			c.Close()
			out = append(out, p)
		}
	}
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// showStatus queries the daemon and prints its status as text or JSON.
func showStatus(ctx context.Context, w io.Writer, o *statusOptions) error {
	path, err := o.socketPath(status.DefaultDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := status.Query(ctx, path)
	if err != nil {
		if os.IsPermission(err) {
			return fmt.Errorf("%w (run as root or as a member of the daemon's group)", err)
		}
		return err
	}
	if o.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return status.FormatText(w, r, time.Now())
}
