package pipeline

import "testing"

// TestDeliverYieldsAfterSmallPackets checks Config.YieldBytes and
// YieldPackets: the device writer yields once after a batch of at least
// YieldPackets packets that average at most YieldBytes (both boundaries
// included), not after larger packets or fewer of them, and never when
// YieldBytes is negative; it yields with the writer's lock released.
func TestDeliverYieldsAfterSmallPackets(t *testing.T) {
	if def := (&Config{}).withDefaults(); def.YieldBytes != 256 || def.YieldPackets != 16 || def.Yield == nil {
		t.Fatalf("defaults: YieldBytes %d, YieldPackets %d, Yield set %v; want 256, 16, set", def.YieldBytes, def.YieldPackets, def.Yield != nil)
	}
	const udpIP = 28 // IPv4 and UDP headers around ipPacket's payload
	for _, tc := range []struct {
		name       string
		yieldBytes int
		packet     int // IP packet size of every packet in the batch
		batch      int // packets in the batch
		want       int
	}{
		{"64-byte packets", 0, 64, 16, 1},
		{"a full batch", 0, 64, 32, 1},
		{"too few of them", 0, 64, 15, 0},
		{"at the default bound", 0, 256, 16, 1},
		{"just above it", 0, 257, 16, 0},
		{"full-size packets", 0, 1400, 32, 0},
		{"a higher bound", 1400, 1400, 16, 1},
		{"turned off", -1, 64, 32, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *carryRig
			yields, locked := 0, 0
			yield := func() {
				yields++
				if !r.rx.in.writeMu.TryLock() {
					locked++
					return
				}
				r.rx.in.writeMu.Unlock()
			}
			r = newRxRig(t, Config{Batches: 4, BatchSize: 32, YieldBytes: tc.yieldBytes, Yield: yield}, 0)
			r.payload = tc.packet - udpIP
			b, pkts := r.batch(t, tc.batch)
			// As an inline reader or the drain does: write under the
			// lock, then unlock.
			r.rx.in.writeMu.Lock()
			r.rx.deliverBatch(b)
			if yields != 0 {
				t.Fatal("yielded with the writer's lock held")
			}
			r.rx.in.unlock()
			if err := samePackets(r.written(), pkts); err != nil {
				t.Fatal(err)
			}
			if yields != tc.want {
				t.Errorf("%d yields after a batch of %d %d-byte packets (YieldBytes %d), want %d", yields, tc.batch, tc.packet, tc.yieldBytes, tc.want)
			}
			if locked != 0 {
				t.Error("yielded with the writer's lock held")
			}
			r.rx.in.writeMu.Lock()
			r.rx.in.unlock() // nothing written since: no second yield
			if yields != tc.want {
				t.Errorf("%d yields after an unlock with nothing written, want still %d", yields, tc.want)
			}
		})
	}
}
