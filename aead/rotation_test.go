package aead

import (
	"bytes"
	"errors"
	"testing"
)

// VpnCloud's rotation: the receiver installs a new key first (not for
// sending), the sender then switches to it; the old slot keeps opening
// late packets until the slot is reused.
func TestRotationSlots(t *testing.T) {
	for _, alg := range suites {
		t.Run(alg.String(), func(t *testing.T) {
			a, b := pair(t, alg)
			msg := []byte("\x00rotating")
			late0 := seal(t, a, msg) // sealed under slot 0, delivered later

			if b.HasKey(1) {
				t.Fatal("slot 1 not empty at start")
			}
			k1 := randBytes(t, 32)
			if err := b.Install(1, k1, k1, false); err != nil {
				t.Fatal(err)
			}
			if b.SendSlot() != 0 || !b.HasKey(1) {
				t.Fatal("install without useForSending changed send slot")
			}
			// b still sends under slot 0, a can read it.
			if p := seal(t, b, msg); p[0] != 0 {
				t.Fatalf("b sends under slot %d", p[0])
			} else if _, err := a.Open(p); err != nil {
				t.Fatal(err)
			}
			if err := a.Install(5, k1, k1, true); err != nil { // 5 % 4 == 1
				t.Fatal(err)
			}
			if a.SendSlot() != 1 {
				t.Fatalf("send slot %d", a.SendSlot())
			}
			p := seal(t, a, msg)
			if p[0] != 1 {
				t.Fatalf("a sends under key id %d", p[0])
			}
			if got, err := b.Open(p); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("new slot: %v", err)
			}
			// The late slot-0 packet still opens.
			if _, err := b.Open(late0); err != nil {
				t.Fatalf("late packet under old slot: %v", err)
			}
			// Slot 0 is reused with a new key: older slot-0 packets no longer open.
			late0b := seal(t, b, msg) // b->a under b's slot 0
			k2 := randBytes(t, 32)
			if err := a.Install(-4, k2, k2, false); err != nil { // -4 wraps to slot 0
				t.Fatal(err)
			}
			if _, err := a.Open(late0b); !errors.Is(err, ErrAuth) {
				t.Fatalf("packet under replaced key: %v", err)
			}
			if a.SendSlot() != 1 {
				t.Fatal("install without useForSending switched")
			}
			// Slot 3 never installed.
			p3 := seal(t, a, msg)
			p3[0] = 3
			if _, err := b.Open(p3); !errors.Is(err, ErrNoKey) {
				t.Fatalf("empty slot: %v", err)
			}
		})
	}
}

// A reinstalled key gets a fresh random counter and a fresh replay window.
func TestRotationFreshState(t *testing.T) {
	a, b := pair(t, AES256)
	first := seal(t, a, []byte{0})
	_, c0, _ := ParseHeader(first)
	if _, err := b.Open(first); err != nil {
		t.Fatal(err)
	}
	k := randBytes(t, 32)
	// Reinstall slot 0 on both sides with the same new key.
	if err := b.Install(0, k, k, true); err != nil {
		t.Fatal(err)
	}
	if err := a.Install(0, k, k, true); err != nil {
		t.Fatal(err)
	}
	p := seal(t, a, []byte{0})
	_, c1, _ := ParseHeader(p)
	if c1 == c0+1 {
		t.Fatal("counter continued across rotation")
	}
	if c1>>48 != 0 {
		t.Fatalf("fresh counter %x has byte 5 set beyond the first packet", c1)
	}
	// Force the new key's counter to equal one b accepted under the old key:
	// the fresh window must accept it.
	a.slots[0].Load().ctr.Store(uint64(c0) - 1)
	p = seal(t, a, []byte{0})
	if _, err := b.Open(p); err != nil {
		t.Fatalf("fresh window rejected a counter seen under the old key: %v", err)
	}
}

// A Ticket or Reservation made before a slot was reinstalled keeps
// referring to the old key.
func TestRotationPinning(t *testing.T) {
	a, b := pair(t, ChaCha20)
	pkt := seal(t, a, []byte{0})
	_, tk, err := b.Authenticate(append([]byte(nil), pkt...))
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Reserve(2)
	if err != nil {
		t.Fatal(err)
	}
	k := randBytes(t, 32)
	if err := b.Install(0, k, k, false); err != nil {
		t.Fatal(err)
	}
	if err := a.Install(0, k, k, true); err != nil {
		t.Fatal(err)
	}
	// The ticket marks the old key's window, not the new one's.
	if err := b.Accept(tk); err != nil {
		t.Fatal(err)
	}
	newKey := b.slots[0].Load()
	newKey.mu.Lock()
	marked := !newKey.win.check(uint64(tk.Counter()))
	newKey.mu.Unlock()
	if marked {
		t.Fatal("old ticket marked the new key's window")
	}
	// The reservation still seals with the old key, which b no longer has.
	buf := make([]byte, HeaderLen+1+TagLen)
	p, err := r.Seal(0, buf, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(p); !errors.Is(err, ErrAuth) {
		t.Fatalf("reserved-before-rotation packet under new key: %v", err)
	}
}

func TestReservation(t *testing.T) {
	for _, alg := range suites {
		a, b := pair(t, alg)
		if _, err := a.Reserve(0); !errors.Is(err, ErrReservation) {
			t.Fatalf("Reserve(0): %v", err)
		}
		r, err := a.Reserve(4)
		if err != nil {
			t.Fatal(err)
		}
		if r.Len() != 4 || r.Slot() != 0 {
			t.Fatalf("reservation %+v", r)
		}
		next := seal(t, a, []byte{0})
		if _, c, _ := ParseHeader(next); c != r.First()+4 {
			t.Fatalf("counter after reservation %d, first %d", c, r.First())
		}
		// Seal in reverse order; counters are First+i.
		for i := 3; i >= 0; i-- {
			buf := make([]byte, HeaderLen+2, HeaderLen+2+TagLen)
			buf[HeaderLen+1] = byte(i)
			var p []byte
			if i%2 == 0 {
				p, err = r.Seal(i, buf, 2)
			} else {
				p, err = r.SealTo(i, make([]byte, 64), buf[HeaderLen:HeaderLen+2])
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, c, _ := ParseHeader(p); c != r.First()+Counter(i) {
				t.Fatalf("packet %d counter %d", i, c)
			}
			got, err := b.Open(p)
			if err != nil || got[1] != byte(i) {
				t.Fatalf("packet %d: %v", i, err)
			}
		}
		buf := make([]byte, 64)
		for _, i := range []int{-1, 4} {
			if _, err := r.Seal(i, buf, 1); !errors.Is(err, ErrReservation) {
				t.Fatalf("Seal(%d): %v", i, err)
			}
			if _, err := r.SealTo(i, buf, []byte{1}); !errors.Is(err, ErrReservation) {
				t.Fatalf("SealTo(%d): %v", i, err)
			}
		}
		if _, err := (Reservation{}).Seal(0, buf, 1); !errors.Is(err, ErrReservation) {
			t.Fatalf("zero reservation: %v", err)
		}
		if _, err := r.Seal(0, make([]byte, HeaderLen+1, HeaderLen+1+TagLen-1), 1); !errors.Is(err, ErrBuffer) {
			t.Fatalf("small buffer: %v", err)
		}
	}
	p, _ := NewSession(Plain, false, nil, nil)
	r, err := p.Reserve(2)
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte("........\x00x")
	if got, err := r.Seal(1, buf, 2); err != nil || string(got) != "\x00x" {
		t.Fatalf("plain reservation: %q %v", got, err)
	}
	if got, err := r.SealTo(0, make([]byte, 8), []byte("\x00y")); err != nil || string(got) != "\x00y" {
		t.Fatalf("plain reservation SealTo: %q %v", got, err)
	}
	if _, err := r.Seal(2, buf, 2); !errors.Is(err, ErrReservation) {
		t.Fatalf("plain out of range: %v", err)
	}
}
