package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds the config file read by LoadFile.
const maxFileSize = 1 << 20

// File is a parsed VpnCloud 2.x config file: the settings it sets, each with
// the line it is on. Merge it into a Config with Config.MergeFile. A File is
// immutable after parsing and safe to share.
type File struct {
	entries []entry
}

// entry is one setting of a config file.
type entry struct {
	key   string // full dotted name
	line  int
	apply func(c *Config, o origin)
}

// LoadFile reads and parses the config file at path.
func LoadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: open %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("config: read %s: larger than %d bytes: %w", path, maxFileSize, ErrInvalidValue)
	}
	file, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return file, nil
}

// ParseFile parses a VpnCloud 2.x YAML config file (kebab-case keys, nested
// device, crypto, beacon and statsd sections) plus peercloud's own
// "peercloud" section. Unknown keys, values of the wrong type and impossible
// enum values are refused with an *Error naming the key and its line; `~`
// (null) leaves a setting at its default. Values that need more context
// (addresses, keys, claims) are checked by Config.Validate.
func ParseFile(data []byte) (*File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &File{}, nil // an empty file sets nothing
		}
		return nil, &Error{Msg: strings.TrimPrefix(err.Error(), "yaml: "), Err: ErrSyntax}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, &Error{Msg: strings.TrimPrefix(err.Error(), "yaml: "), Err: ErrSyntax}
		}
		return nil, &Error{Line: extra.Line, Msg: "a second YAML document; a config file holds one", Err: ErrSyntax}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return &File{}, nil
		}
		root = root.Content[0]
	}
	f := &File{}
	if isNull(root) {
		return f, nil
	}
	if err := f.walkMapping(root, "", topSchema); err != nil {
		return nil, err
	}
	return f, nil
}

// MergeFile applies the settings of f over c, as VpnCloud's merge_file:
// scalars replace, peers, claims, advertise-addresses and trusted keys are
// appended, algorithms replace when the file lists any, hooks are merged by
// event.
func (c *Config) MergeFile(f *File) {
	for _, e := range f.entries {
		e.apply(c, origin{line: e.line})
	}
}

// decoder turns one YAML value into an entry, or an error naming key.
type decoder func(f *File, n *yaml.Node, key string) error

type schema map[string]decoder

var (
	deviceSchema = schema{
		"type": enumField(func(c *Config, s string) error {
			t, err := ParseDeviceType(s)
			c.Device.Type = t
			return err
		}),
		"name":          strField(func(c *Config) *string { return &c.Device.Name }),
		"path":          strField(func(c *Config) *string { return &c.Device.Path }),
		"fix-rp-filter": boolField(func(c *Config) *bool { return &c.Device.FixRPFilter }),
	}
	cryptoSchema = schema{
		"password":     strField(func(c *Config) *string { return &c.Crypto.Password }),
		"private-key":  strField(func(c *Config) *string { return &c.Crypto.PrivateKey }),
		"public-key":   strField(func(c *Config) *string { return &c.Crypto.PublicKey }),
		"trusted-keys": listField(false, func(c *Config) *[]string { return &c.Crypto.TrustedKeys }),
		"algorithms":   listField(true, func(c *Config) *[]string { return &c.Crypto.Algorithms }),
	}
	beaconSchema = schema{
		"store":    strField(func(c *Config) *string { return &c.Beacon.Store }),
		"load":     strField(func(c *Config) *string { return &c.Beacon.Load }),
		"interval": secondsField(math.MaxUint32, func(c *Config) *time.Duration { return &c.Beacon.Interval }),
		"password": strField(func(c *Config) *string { return &c.Beacon.Password }),
	}
	statsdSchema = schema{
		"server": strField(func(c *Config) *string { return &c.Statsd.Server }),
		"prefix": strField(func(c *Config) *string { return &c.Statsd.Prefix }),
	}
	peercloudSchema = schema{
		"metrics-listen":        strField(func(c *Config) *string { return &c.Peercloud.MetricsListen }),
		"no-routes":             boolField(func(c *Config) *bool { return &c.Peercloud.NoRoutes }),
		"no-relay":              boolField(func(c *Config) *bool { return &c.Peercloud.NoRelay }),
		"no-tun-offload":        boolField(func(c *Config) *bool { return &c.Peercloud.NoTunOffload }),
		"no-udp-gso":            boolField(func(c *Config) *bool { return &c.Peercloud.NoUDPGSO }),
		"no-udp-gro":            boolField(func(c *Config) *bool { return &c.Peercloud.NoUDPGRO }),
		"no-device-yield":       boolField(func(c *Config) *bool { return &c.Peercloud.NoDeviceYield }),
		"no-small-lane":         boolField(func(c *Config) *bool { return &c.Peercloud.NoSmallLane }),
		"no-lane-linger":        boolField(func(c *Config) *bool { return &c.Peercloud.NoLaneLinger }),
		"tun-queues":            countField(MaxTunQueues, func(c *Config) *int { return &c.Peercloud.TunQueues }),
		"udp-shards":            countField(MaxUDPShards, func(c *Config) *int { return &c.Peercloud.UDPShards }),
		"port-forwarding-lease": countField(MaxPortForwardingLease, func(c *Config) *int { return &c.Peercloud.PortForwardingLease }),
		"socket-buffer":         countField(MaxSocketBuffer, func(c *Config) *int { return &c.Peercloud.SocketBuffer }),
		"device-queue-len":      countField(MaxDeviceQueueLen, func(c *Config) *int { return &c.Peercloud.DeviceQueueLen }),
		"log-level": enumField(func(c *Config, s string) error {
			if _, err := ParseLogLevel(s); err != nil {
				return err
			}
			c.Peercloud.LogLevel = s
			return nil
		}),
	}
	topSchema schema
)

func init() {
	// Assigned in init because the section decoders refer to walkMapping,
	// which refers to topSchema.
	topSchema = schema{
		"device":              sectionField(deviceSchema),
		"ip":                  strField(func(c *Config) *string { return &c.IP }),
		"advertise-addresses": listField(false, func(c *Config) *[]string { return &c.AdvertiseAddresses }),
		"ifup":                strField(func(c *Config) *string { return &c.Ifup }),
		"ifdown":              strField(func(c *Config) *string { return &c.Ifdown }),
		"crypto":              sectionField(cryptoSchema),
		"listen":              strField(func(c *Config) *string { return &c.Listen }),
		"peers":               listField(false, func(c *Config) *[]string { return &c.Peers }),
		"peer-timeout":        secondsField(math.MaxUint16, func(c *Config) *time.Duration { return &c.PeerTimeout }),
		"keepalive":           secondsField(math.MaxUint32, func(c *Config) *time.Duration { return &c.Keepalive }),
		"beacon":              sectionField(beaconSchema),
		"mode": enumField(func(c *Config, s string) error {
			m, err := ParseMode(s)
			c.Mode = m
			return err
		}),
		"switch-timeout":  secondsField(math.MaxUint32, func(c *Config) *time.Duration { return &c.SwitchTimeout }),
		"claims":          listField(false, func(c *Config) *[]string { return &c.Claims }),
		"auto-claim":      boolField(func(c *Config) *bool { return &c.AutoClaim }),
		"port-forwarding": boolField(func(c *Config) *bool { return &c.PortForwarding }),
		"pid-file":        strField(func(c *Config) *string { return &c.PIDFile }),
		"stats-file":      strField(func(c *Config) *string { return &c.StatsFile }),
		"statsd":          sectionField(statsdSchema),
		"user":            strField(func(c *Config) *string { return &c.User }),
		"group":           strField(func(c *Config) *string { return &c.Group }),
		"hook":            strField(func(c *Config) *string { return &c.Hook }),
		"hooks":           hooksField(),
		"peercloud":       sectionField(peercloudSchema),
	}
}

// walkMapping decodes the mapping n whose keys are described by s; prefix is
// the dotted name of the section ("" at the top).
func (f *File) walkMapping(n *yaml.Node, prefix string, s schema) error {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return &Error{Key: strings.TrimSuffix(prefix, "."), Line: n.Line, Msg: fmt.Sprintf("must be a mapping of keys to values, not %s", describe(n)), Err: ErrWrongType}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return &Error{Key: strings.TrimSuffix(prefix, "."), Line: k.Line, Msg: "keys must be plain names", Err: ErrWrongType}
		}
		key := prefix + k.Value
		if first, dup := seen[k.Value]; dup {
			return &Error{Key: key, Line: k.Line, Msg: fmt.Sprintf("given twice (first on line %d)", first), Err: ErrDuplicateKey}
		}
		seen[k.Value] = k.Line
		dec, ok := s[k.Value]
		if !ok {
			return &Error{Key: key, Line: k.Line, Msg: unknownKeyMsg(k.Value, s), Err: ErrUnknownKey}
		}
		if err := dec(f, v, key); err != nil {
			return err
		}
	}
	return nil
}

// unknownKeyMsg says a key is unknown, with a hint for the likely intent.
func unknownKeyMsg(k string, s schema) string {
	if alt := strings.ReplaceAll(k, "_", "-"); alt != k {
		if _, ok := s[alt]; ok {
			return fmt.Sprintf("unknown key; did you mean %q? (VpnCloud 2.x keys use dashes)", alt)
		}
	}
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	slices.Sort(names)
	return "unknown key; known keys here: " + strings.Join(names, ", ")
}

func (f *File) add(key string, line int, apply func(c *Config, o origin)) {
	f.entries = append(f.entries, entry{key: key, line: line, apply: apply})
}

func sectionField(s schema) decoder {
	return func(f *File, n *yaml.Node, key string) error {
		if isNull(n) {
			return nil
		}
		return f.walkMapping(n, key+".", s)
	}
}

// scalar returns n's text, or an error when n is not a scalar.
func scalar(n *yaml.Node, key, want string) (string, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return "", &Error{Key: key, Line: n.Line, Msg: fmt.Sprintf("must be %s, not %s", want, describe(n)), Err: ErrWrongType}
	}
	return n.Value, nil
}

// scalarField decodes a scalar with parse (want names the expected kind in
// type errors) and stores it through p when the file is merged. A parse
// error becomes a *Error naming the key and line.
func scalarField[T any](want string, parse func(string) (T, error), p func(*Config) *T) decoder {
	return func(f *File, n *yaml.Node, key string) error {
		if isNull(n) {
			return nil
		}
		s, err := scalar(n, key, want)
		if err != nil {
			return err
		}
		v, err := parse(s)
		if err != nil {
			return &Error{Key: key, Line: n.Line, Msg: trimSentinel(err), Err: sentinelOf(err)}
		}
		f.add(key, n.Line, func(c *Config, o origin) {
			*p(c) = v
			c.setOrigin(key, o)
		})
		return nil
	}
}

func strField(p func(*Config) *string) decoder {
	return scalarField("a string", func(s string) (string, error) { return s, nil }, p)
}

func enumField(set func(*Config, string) error) decoder {
	return func(f *File, n *yaml.Node, key string) error {
		if isNull(n) {
			return nil
		}
		s, err := scalar(n, key, "a string")
		if err != nil {
			return err
		}
		if err := set(&Config{}, s); err != nil { // check now, apply later
			return &Error{Key: key, Line: n.Line, Msg: trimSentinel(err), Err: ErrInvalidValue}
		}
		f.add(key, n.Line, func(c *Config, o origin) {
			_ = set(c, s) // cannot fail: checked above
			c.setOrigin(key, o)
		})
		return nil
	}
}

func boolField(p func(*Config) *bool) decoder {
	return scalarField("true or false", parseBool, p)
}

// parseBool accepts YAML 1.1's spellings of a boolean, as VpnCloud's serde.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false: %w", s, ErrWrongType)
}

// ParseCount parses a whole number from 1 to max (a queue or shard count).
func ParseCount(s string, max int) (int, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number: %w", s, ErrWrongType)
	}
	if v < 1 || v > uint64(max) {
		return 0, fmt.Errorf("%d is not between 1 and %d: %w", v, max, ErrInvalidValue)
	}
	return int(v), nil
}

func countField(max int, p func(*Config) *int) decoder {
	return scalarField("a whole number", func(s string) (int, error) { return ParseCount(s, max) }, p)
}

// ParseSeconds parses a whole number of seconds no larger than max, as
// VpnCloud's durations (a u32, or u16 for the peer timeout).
func ParseSeconds(s string, max uint64) (time.Duration, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of seconds: %w", s, ErrWrongType)
	}
	if v > max {
		return 0, fmt.Errorf("%d seconds is more than the maximum of %d: %w", v, max, ErrInvalidValue)
	}
	return time.Duration(v) * time.Second, nil
}

func secondsField(max uint64, p func(*Config) *time.Duration) decoder {
	return scalarField("a number of seconds", func(s string) (time.Duration, error) { return ParseSeconds(s, max) }, p)
}

// listField decodes a list of strings. Items are appended to the Config's
// list, or replace it when replace is set and the list is not empty
// (VpnCloud's rule for algorithms).
func listField(replace bool, p func(*Config) *[]string) decoder {
	return func(f *File, n *yaml.Node, key string) error {
		if isNull(n) {
			return nil
		}
		seq := deref(n)
		if seq.Kind != yaml.SequenceNode {
			return &Error{Key: key, Line: seq.Line, Msg: fmt.Sprintf("must be a list (items starting with \"- \", or [] for none), not %s", describe(seq)), Err: ErrWrongType}
		}
		items := make([]string, 0, len(seq.Content))
		lines := make([]int, 0, len(seq.Content))
		for i, item := range seq.Content {
			s, err := scalar(item, fmt.Sprintf("%s[%d]", key, i), "a string")
			if err != nil {
				return err
			}
			if isNull(item) {
				return &Error{Key: fmt.Sprintf("%s[%d]", key, i), Line: item.Line, Msg: "an empty list item", Err: ErrInvalidValue}
			}
			items = append(items, s)
			lines = append(lines, deref(item).Line)
		}
		if replace && len(items) == 0 {
			return nil
		}
		f.add(key, seq.Line, func(c *Config, o origin) {
			l := p(c)
			if replace {
				*l = nil
			}
			base := len(*l)
			*l = append(*l, items...)
			for i := range items {
				c.setOrigin(fmt.Sprintf("%s[%d]", key, base+i), origin{line: lines[i], flag: o.flag})
			}
		})
		return nil
	}
}

func hooksField() decoder {
	return func(f *File, n *yaml.Node, key string) error {
		if isNull(n) {
			return nil
		}
		m := deref(n)
		if m.Kind != yaml.MappingNode {
			return &Error{Key: key, Line: m.Line, Msg: fmt.Sprintf("must be a mapping of event names to scripts, not %s", describe(m)), Err: ErrWrongType}
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := deref(m.Content[i])
			if k.Kind != yaml.ScalarNode {
				return &Error{Key: key, Line: k.Line, Msg: "event names must be plain names", Err: ErrWrongType}
			}
			ev := k.Value
			evKey := key + "." + ev
			if seen[ev] {
				return &Error{Key: evKey, Line: k.Line, Msg: "given twice", Err: ErrDuplicateKey}
			}
			seen[ev] = true
			v := m.Content[i+1]
			if isNull(v) {
				continue
			}
			script, err := scalar(v, evKey, "a script")
			if err != nil {
				return err
			}
			f.add(evKey, k.Line, func(c *Config, o origin) {
				if c.Hooks == nil {
					c.Hooks = map[string]string{}
				}
				c.Hooks[ev] = script
				c.setOrigin(evKey, o)
			})
		}
		return nil
	}
}

// deref follows YAML aliases (bounded, so a cycle cannot loop).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; i < 16 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names the kind of a YAML value for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "an empty document"
}

// trimSentinel returns err's message without the wrapped sentinel's text.
func trimSentinel(err error) string {
	msg := err.Error()
	for _, s := range []error{ErrWrongType, ErrInvalidValue} {
		msg = strings.TrimSuffix(msg, ": "+s.Error())
	}
	return msg
}

// sentinelOf returns the sentinel err wraps (ErrInvalidValue by default).
func sentinelOf(err error) error {
	for _, s := range []error{ErrWrongType, ErrInvalidValue, ErrMissing, ErrConflict} {
		if errors.Is(err, s) {
			return s
		}
	}
	return ErrInvalidValue
}
