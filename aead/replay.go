package aead

// The replay filter follows WireGuard's (RFC 6479 style): a ring of 64-bit
// blocks over the counter space. The newest counter seen is `last`; a
// counter is accepted once if it is newer than last or within ReplayWindow
// of it. Sliding forward clears the blocks the window moves past, so the
// cost of a jump is bounded by the ring size, never by the jump's length.

const (
	replayBlockBits = 64
	replayBlocks    = 128 // ring size; a power of two
	replayBlockMask = replayBlocks - 1

	// ReplayWindow is how far (in packets) a counter may lag behind the
	// newest one accepted on its key and still be accepted once.
	ReplayWindow = (replayBlocks - 1) * replayBlockBits
)

// replayFilter is not safe for concurrent use; keyState guards it.
type replayFilter struct {
	last uint64
	ring [replayBlocks]uint64
}

// check reports whether ctr would be accepted, without recording it.
func (f *replayFilter) check(ctr uint64) bool {
	if ctr > f.last {
		return true
	}
	if f.last-ctr > ReplayWindow {
		return false
	}
	return f.ring[(ctr/replayBlockBits)&replayBlockMask]&(1<<(ctr%replayBlockBits)) == 0
}

// accept records ctr and reports whether it was new and inside the window.
func (f *replayFilter) accept(ctr uint64) bool {
	block := ctr / replayBlockBits
	if ctr > f.last {
		cur := f.last / replayBlockBits
		diff := block - cur
		if diff > replayBlocks {
			diff = replayBlocks
		}
		for i := cur + 1; i <= cur+diff; i++ {
			f.ring[i&replayBlockMask] = 0
		}
		f.last = ctr
	} else if f.last-ctr > ReplayWindow {
		return false
	}
	idx := block & replayBlockMask
	bit := uint64(1) << (ctr % replayBlockBits)
	old := f.ring[idx]
	f.ring[idx] = old | bit
	return old&bit == 0
}
