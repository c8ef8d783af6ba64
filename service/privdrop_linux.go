package service

import (
	"fmt"
	"os/user"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Credentials are the ids --user and --group resolve to.
type Credentials struct {
	// UID is the user to become; -1 keeps the current one (--group only).
	UID int
	// GID is the primary group to become.
	GID int
	// Groups are the supplementary groups (the user's groups, or just GID).
	Groups []int
	// Name describes the credentials for logs, e.g. "nobody:nogroup".
	Name string
}

// LookupCredentials resolves --user and --group (names or numeric ids). A
// user without a group becomes its primary group with its supplementary
// groups; a group without a user changes only the group.
func LookupCredentials(userName, groupName string) (Credentials, error) {
	c := Credentials{UID: -1, GID: -1}
	var u *user.User
	if userName != "" {
		var err error
		u, err = user.Lookup(userName)
		if err != nil {
			if u, err = user.LookupId(userName); err != nil {
				return c, fmt.Errorf("user %q: %w", userName, ErrNoSuchUser)
			}
		}
		c.UID, _ = strconv.Atoi(u.Uid) // os/user reports decimal ids on Linux
		c.GID, _ = strconv.Atoi(u.Gid)
		c.Name = u.Username
	}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			if g, err = user.LookupGroupId(groupName); err != nil {
				return c, fmt.Errorf("group %q: %w", groupName, ErrNoSuchUser)
			}
		}
		c.GID, _ = strconv.Atoi(g.Gid)
		c.Groups = []int{c.GID}
		c.Name += ":" + g.Name
	} else if u != nil {
		ids, err := u.GroupIds()
		if err != nil || len(ids) == 0 {
			ids = []string{u.Gid}
		}
		for _, s := range ids {
			if id, err := strconv.Atoi(s); err == nil {
				c.Groups = append(c.Groups, id)
			}
		}
		c.Name += ":" + u.Gid
	}
	return c, nil
}

// PrivThread runs functions on one locked OS thread that kept some
// capabilities (CAP_NET_ADMIN for kernel routes) across Drop, while every
// other thread of the process has none. Do is safe for concurrent use;
// Close stops the thread and makes Do fail with ErrClosed. A nil
// *PrivThread runs functions inline on the caller's thread.
type PrivThread struct {
	reqs chan func()
	quit chan struct{}
}

func startPrivThread() (*PrivThread, error) {
	p := &PrivThread{reqs: make(chan func()), quit: make(chan struct{})}
	type result struct {
		p   *PrivThread
		err error
	}
	started := make(chan result)
	go func() {
		// The thread is never unlocked: it holds capabilities no other
		// thread has, so the runtime must never run anything else on it.
		// When the goroutine exits locked, the runtime ends the thread.
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread: its credentials are what ps and
			// /proc/PID/status show, so it must end up unprivileged.
			// Holding it, take another thread, then let it go.
			other, err := startPrivThread()
			runtime.UnlockOSThread()
			started <- result{other, err}
			return
		}
		// Keep the permitted set across the uid change (per thread).
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			started <- result{nil, fmt.Errorf("%w: PR_SET_KEEPCAPS: %w", ErrPrivDrop, err)}
			return
		}
		started <- result{p, nil}
		for {
			select {
			case f := <-p.reqs:
				f()
			case <-p.quit:
				return
			}
		}
	}()
	r := <-started
	return r.p, r.err
}

// Do runs f on the privileged thread and waits for it.
func (p *PrivThread) Do(f func()) error {
	if p == nil {
		f()
		return nil
	}
	done := make(chan struct{})
	select {
	case p.reqs <- func() { f(); close(done) }:
	case <-p.quit:
		return ErrClosed
	}
	<-done
	return nil
}

// Close ends the privileged thread (and with it the capabilities).
func (p *PrivThread) Close() {
	if p != nil {
		close(p.quit)
	}
}

// CapNetAdmin is the capability kernel route changes need.
const CapNetAdmin = unix.CAP_NET_ADMIN

// Drop switches the whole process to c: supplementary groups, group, then
// user (Go's syscall.Set* apply to every thread on Linux; x/sys/unix's
// Setgroups does not, so syscall's is used). With keep capabilities it
// returns a PrivThread that still holds exactly those (effective and
// permitted); every other thread holds none. Drop must be called while the
// process is root and before the work that must run unprivileged.
func Drop(c Credentials, keep ...uintptr) (*PrivThread, error) {
	var pt *PrivThread
	if len(keep) > 0 && c.UID >= 0 {
		var err error
		if pt, err = startPrivThread(); err != nil {
			return nil, err
		}
	}
	fail := func(what string, err error) (*PrivThread, error) {
		pt.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrPrivDrop, what, err)
	}
	if c.GID >= 0 {
		if err := syscall.Setgroups(c.Groups); err != nil {
			return fail("setgroups", err)
		}
		if err := syscall.Setgid(c.GID); err != nil {
			return fail("setgid", err)
		}
	}
	if c.UID >= 0 {
		if err := syscall.Setuid(c.UID); err != nil {
			return fail("setuid", err)
		}
	}
	if pt == nil {
		return nil, nil
	}
	var capErr error
	_ = pt.Do(func() { capErr = limitCaps(keep) }) // cannot fail: pt is open
	if capErr != nil {
		return fail("capset", capErr)
	}
	return pt, nil
}

// limitCaps sets the calling thread's effective and permitted sets to
// exactly keep and clears its inheritable set and keep-caps flag.
func limitCaps(keep []uintptr) error {
	var mask [2]uint32
	for _, c := range keep {
		mask[c/32] |= 1 << (c % 32)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: mask[0], Permitted: mask[0]},
		{Effective: mask[1], Permitted: mask[1]},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return err
	}
	return unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0)
}
