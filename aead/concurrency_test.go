package aead

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peercloud/peercloud/internal/testenv"
)

// Many goroutines seal and open through one pair of sessions at once: every
// packet must open, and no counter may ever be used twice. The senders run
// in rounds of at most ReplayWindow/2 packets, each drained before the
// next: a sender descheduled between sealing and sending (on a loaded
// machine, for as long as the others take to send thousands) must not
// make its packet legitimately too old for the replay window.
func TestConcurrentSealOpen(t *testing.T) {
	workers, rounds, perRound := 8, 6, 500
	if testenv.Short() {
		rounds = 1
	}
	if workers*perRound > ReplayWindow/2 {
		t.Fatal("rounds too large for the replay window")
	}
	for _, alg := range suites {
		t.Run(alg.String(), func(t *testing.T) {
			a, b := pair(t, alg)
			pkts := make(chan []byte, 64)
			var receivers, inflight sync.WaitGroup
			var seen sync.Map
			var opened, dups atomic.Int64
			for w := 0; w < workers; w++ {
				receivers.Add(1)
				go func() {
					defer receivers.Done()
					for p := range pkts {
						_, c, _ := ParseHeader(p)
						if _, dup := seen.LoadOrStore(c, true); dup {
							dups.Add(1)
						}
						if _, err := b.Open(p); err != nil {
							t.Errorf("open: %v", err)
						} else {
							opened.Add(1)
						}
						inflight.Done()
					}
				}()
			}
			for r := 0; r < rounds; r++ {
				var senders sync.WaitGroup
				inflight.Add(workers * perRound)
				for w := 0; w < workers; w++ {
					senders.Add(1)
					go func() {
						defer senders.Done()
						for i := 0; i < perRound; i++ {
							buf := make([]byte, HeaderLen+9, HeaderLen+9+TagLen)
							binary.BigEndian.PutUint64(buf[HeaderLen+1:], uint64(w<<32|r<<16|i))
							var p []byte
							var err error
							if i%2 == 0 {
								p, err = a.Seal(buf, 9)
							} else {
								var res Reservation
								if res, err = a.Reserve(1); err == nil {
									p, err = res.Seal(0, buf, 9)
								}
							}
							if err != nil {
								t.Error(err)
								inflight.Done()
								continue
							}
							pkts <- p
						}
					}()
				}
				senders.Wait()
				inflight.Wait()
			}
			close(pkts)
			receivers.Wait()
			if dups.Load() != 0 {
				t.Fatalf("%d counters used twice", dups.Load())
			}
			if got := opened.Load(); got != int64(workers*rounds*perRound) {
				t.Fatalf("opened %d of %d", got, workers*rounds*perRound)
			}
		})
	}
}

// Sealing and opening while the control goroutine rotates keys on both
// sides: every packet opens with its exact plaintext or is rejected with
// ErrAuth (its slot was reused between seal and open) or, if its worker
// stalled for more than ReplayWindow packets, ErrReplay; nothing else; no
// (slot, counter) pair repeats; and after the rotations traffic flows.
func TestConcurrentInstall(t *testing.T) {
	workers := 6
	rotations := 400
	if testenv.Short() {
		rotations = 100
	}
	for _, alg := range suites {
		t.Run(alg.String(), func(t *testing.T) {
			a, b := pair(t, alg)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var ok, authFail, tooOld, gen atomic.Int64
			var mu sync.Mutex
			seen := map[[2]uint64]bool{}
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, HeaderLen+64+TagLen)
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						msg := buf[HeaderLen : HeaderLen+64]
						for j := range msg {
							msg[j] = byte(w + i + j)
						}
						g0 := gen.Load()
						p, err := a.Seal(buf, 64)
						if err != nil {
							t.Error(err)
							return
						}
						slot, c, _ := ParseHeader(p)
						mu.Lock()
						key := [2]uint64{uint64(slot), uint64(c)}
						if seen[key] {
							t.Errorf("slot %d counter %d reused", slot, c)
						}
						seen[key] = true
						mu.Unlock()
						plain, tk, err := b.Authenticate(p)
						if err == nil {
							if err = b.Accept(tk); errors.Is(err, ErrReplay) {
								// Legitimate only if this worker stalled so long that
								// the others moved the window past its packet.
								tk.k.mu.Lock()
								last := tk.k.win.last
								tk.k.mu.Unlock()
								if last-uint64(c) <= ReplayWindow {
									t.Errorf("counter %d rejected inside the window (newest %d)", c, last)
									return
								}
								tooOld.Add(1)
								continue
							}
						}
						switch {
						case err == nil:
							for j, x := range plain {
								if x != byte(w+i+j) {
									t.Errorf("plaintext corrupted at %d", j)
									return
								}
							}
							ok.Add(1)
						case errors.Is(err, ErrAuth):
							// The key sealed with was installed by rotation g0 or
							// later; b drops it only at rotation g0+4.
							if g1 := gen.Load(); g1-g0 < 3 {
								t.Errorf("ErrAuth without slot reuse (rotations %d..%d)", g0, g1)
								return
							}
							authFail.Add(1)
						default:
							t.Errorf("unexpected error %v", err)
							return
						}
					}
				}()
			}
			for r := 1; r <= rotations; r++ {
				k := randBytes(t, 32)
				slot := r % Slots
				if err := b.Install(slot, k, k, false); err != nil {
					t.Fatal(err)
				}
				if err := a.Install(slot, k, k, true); err != nil {
					t.Fatal(err)
				}
				gen.Store(int64(r))
				time.Sleep(50 * time.Microsecond)
			}
			close(stop)
			wg.Wait()
			if ok.Load() == 0 {
				t.Fatal("no packet opened during rotation")
			}
			if _, err := b.Open(seal(t, a, []byte{0})); err != nil {
				t.Fatalf("after rotation: %v", err)
			}
			t.Logf("opened %d, rejected: slot reused %d, too old %d", ok.Load(), authFail.Load(), tooOld.Load())
		})
	}
}
