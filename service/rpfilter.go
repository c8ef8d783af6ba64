package service

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// RPFilterDir is where the kernel exposes net.ipv4.conf.*.rp_filter.
const RPFilterDir = "/proc/sys/net/ipv4/conf"

// RPFilter reads and fixes reverse-path filtering the way VpnCloud does.
// Dir is the directory of the per-interface settings (RPFilterDir; tests
// use a fake tree).
type RPFilter struct {
	Dir string
	Log *zap.Logger
}

func (r RPFilter) path(dev string) string { return filepath.Join(r.Dir, dev, "rp_filter") }

func (r RPFilter) get(dev string) (int, error) {
	b, err := os.ReadFile(r.path(dev))
	if err != nil {
		return 0, fmt.Errorf("%w: read %s: %w", ErrRPFilter, dev, err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 8)
	if err != nil {
		return 0, fmt.Errorf("%w: invalid value for %s: %q", ErrRPFilter, dev, b)
	}
	return int(v), nil
}

func (r RPFilter) set(dev string, v int) error {
	if r.Log != nil {
		r.Log.Info(fmt.Sprintf("Setting net.ipv4.conf.%s.rp_filter=%d", dev, v))
	}
	if err := os.WriteFile(r.path(dev), []byte(strconv.Itoa(v)+"\n"), 0o644); err != nil {
		return fmt.Errorf("%w: set %s: %w", ErrRPFilter, dev, err)
	}
	return nil
}

// Get is the effective setting for dev: the larger of "all" and dev's own,
// as the kernel applies it.
func (r RPFilter) Get(dev string) (int, error) {
	all, err := r.get("all")
	if err != nil {
		return 0, err
	}
	d, err := r.get(dev)
	if err != nil {
		return 0, err
	}
	return max(all, d), nil
}

// Fix is --fix-rp-filter: "all" is lowered to 1 when it is above (loose
// mode would override the device), and dev is set to 1 (strict).
func (r RPFilter) Fix(dev string) error {
	all, err := r.get("all")
	if err != nil {
		return err
	}
	if all > 1 {
		if err := r.set("all", 1); err != nil {
			return err
		}
	}
	d, err := r.get(dev)
	if err != nil {
		return err
	}
	if d != 1 {
		return r.set(dev, 1)
	}
	return nil
}

// Warning is VpnCloud's warning about CVE-2019-14899 for an effective
// rp_filter value other than 1.
func Warning(val int) string {
	return fmt.Sprintf("Your networking configuration might be affected by a vulnerability "+
		"(https://vpncloud.ddswd.de/docs/security/cve-2019-14899/), please change your rp_filter setting to 1 (currently %d).", val)
}

// Check logs Warning when dev's effective setting is not 1; it reports the
// value, or -1 when it cannot be read (then nothing is logged, as VpnCloud).
func (r RPFilter) Check(dev string) int {
	v, err := r.Get(dev)
	if err != nil {
		return -1
	}
	if v != 1 && r.Log != nil {
		r.Log.Warn(Warning(v), zap.String("ifname", dev), zap.Int("rp_filter", v))
	}
	return v
}
