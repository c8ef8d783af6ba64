package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/peercloud/peercloud/route"
)

// learnTable is switch mode's table of learned source addresses (VpnCloud's
// ClaimTable cache): which peer an address was last seen behind, until the
// switch timeout. The inbound device writer learns, the outbound device
// reader looks up. An entry's peer and expiry change atomically in place, so
// only a new address takes the write lock (and allocates).
type learnTable struct {
	mu  sync.RWMutex
	m   map[route.Key]*learnEntry
	max int
}

type learnEntry struct {
	peer    atomic.Pointer[Peer]
	expires atomic.Int64 // unix seconds
}

func newLearnTable(max int) *learnTable {
	return &learnTable{m: make(map[route.Key]*learnEntry), max: max}
}

// learn records that k was seen behind peer at now, valid for ttl seconds.
func (t *learnTable) learn(k route.Key, peer *Peer, now, ttl int64) {
	if isGroupAddr(k) {
		return
	}
	t.mu.RLock()
	e := t.m[k]
	t.mu.RUnlock()
	if e == nil {
		t.mu.Lock()
		if e = t.m[k]; e == nil {
			if len(t.m) >= t.max {
				t.evictLocked(now)
			}
			e = &learnEntry{}
			t.m[k] = e
		}
		t.mu.Unlock()
	}
	if e.peer.Load() != peer {
		e.peer.Store(peer)
	}
	if e.expires.Load() < now+ttl {
		e.expires.Store(now + ttl)
	}
}

// lookup returns the peer k was learned behind, or nil.
func (t *learnTable) lookup(k route.Key, now int64) *Peer {
	t.mu.RLock()
	e := t.m[k]
	t.mu.RUnlock()
	if e == nil || e.expires.Load() < now {
		return nil
	}
	return e.peer.Load()
}

// evictLocked drops expired entries, or everything when none has expired
// (a table full of live addresses is an attack or a misconfiguration; the
// switch relearns).
func (t *learnTable) evictLocked(now int64) {
	for k, e := range t.m {
		if e.expires.Load() < now {
			delete(t.m, k)
		}
	}
	if len(t.m) >= t.max {
		clear(t.m)
	}
}

// len returns the number of entries.
func (t *learnTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.m)
}

// isGroupAddr reports whether k is a multicast/broadcast MAC (the I/G bit),
// which is never learned as a source.
func isGroupAddr(k route.Key) bool {
	switch k.Len {
	case 6:
		return k.Data[0]&1 != 0
	case 8:
		return k.Data[2]&1 != 0
	}
	return false
}
