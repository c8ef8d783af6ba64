package aead

// Reservation is a run of consecutive send counters under one key, handed
// out by Reserve. The goroutine that orders packets reserves counters for a
// whole batch in one atomic step; crypto workers then seal packet i of the
// batch with counter First+i in parallel, in any order. A Reservation pins
// the key it was made under: if Install replaces that slot meanwhile, the
// batch is still sealed consistently with the old key (which the peer keeps
// until the slot is reused). Reservations are values, safe to copy and to
// use from many goroutines at once.
type Reservation struct {
	k     *keyState
	half  uint8
	slot  uint8
	plain bool
	first uint64
	n     int
}

// Slot is the key slot the reservation seals with.
func (r Reservation) Slot() uint8 { return r.slot }

// First is the first reserved counter (0 in plain mode).
func (r Reservation) First() Counter { return Counter(r.first) }

// Len is the number of reserved counters.
func (r Reservation) Len() int { return r.n }

// Reserve reserves n consecutive counters (n >= 1) of the current send key.
// Counters reserved but never sealed are simply skipped; the receiver's
// window does not need them.
func (s *Session) Reserve(n int) (Reservation, error) {
	if n < 1 || n > 1<<20 {
		return Reservation{}, ErrReservation
	}
	if s.alg == Plain {
		return Reservation{plain: true, n: n}, nil
	}
	slot, k := s.sendKey()
	if k == nil {
		return Reservation{}, ErrNoKey
	}
	last := k.ctr.Add(uint64(n))
	if last > uint64(MaxCounter) {
		return Reservation{}, ErrNonceExhausted
	}
	return Reservation{k: k, half: s.half, slot: slot, first: last - uint64(n) + 1, n: n}, nil
}

// Seal is Session.Seal for the i-th packet of the reservation (counter
// First+i), 0 <= i < Len. Sealing the same i twice reuses a nonce and must
// not be done.
func (r Reservation) Seal(i int, buf []byte, n int) ([]byte, error) {
	if n < 0 || cap(buf)-HeaderLen < n {
		return nil, ErrBuffer
	}
	if r.plain {
		if i < 0 || i >= r.n {
			return nil, ErrReservation
		}
		if n == 0 {
			return nil, ErrShort
		}
		return buf[HeaderLen : HeaderLen+n], nil
	}
	if r.k == nil || i < 0 || i >= r.n {
		return nil, ErrReservation
	}
	if cap(buf)-Overhead < n {
		return nil, ErrBuffer
	}
	return sealWith(r.k.send, r.half, r.slot, r.first+uint64(i), buf, buf[HeaderLen:HeaderLen+n]), nil
}

// SealTo is Session.SealTo for the i-th packet of the reservation.
func (r Reservation) SealTo(i int, dst, plain []byte) ([]byte, error) {
	if r.plain {
		if i < 0 || i >= r.n {
			return nil, ErrReservation
		}
		return copyPlain(dst, plain)
	}
	if r.k == nil || i < 0 || i >= r.n {
		return nil, ErrReservation
	}
	if cap(dst)-Overhead < len(plain) {
		return nil, ErrBuffer
	}
	return sealWith(r.k.send, r.half, r.slot, r.first+uint64(i), dst, plain), nil
}
