package bench

import (
	"context"
	"errors"
	"math"
	"testing"
)

// tunnelModel is a fake probe: a tunnel that carries up to capacity
// packets per second and loses the excess, behind a sender that cannot
// offer more than senderMax.
func tunnelModel(capacity, senderMax float64, offered *[]float64) func(float64) (UDPResult, error) {
	return func(pps float64) (UDPResult, error) {
		*offered = append(*offered, pps)
		sent := math.Min(pps, senderMax)
		got := math.Min(sent, capacity)
		const secs = 2
		return UDPResult{
			SentPackets:  int64(sent * secs),
			LostPackets:  int64((sent - got) * secs),
			Seconds:      secs,
			DeliveredPPS: got,
			LostPercent:  (sent - got) / sent * 100,
		}, nil
	}
}

func TestSearchSustainedFindsCapacity(t *testing.T) {
	for _, c := range []struct {
		name                string
		capacity, start, hi float64
		wantLo, wantHi      float64
		maxProbes           int
	}{
		// The tunnel carries 150k; the unthrottled test offered 300k and
		// delivered 100k (its receiver starved).
		{"below capacity start", 150e3, 100e3, 300e3, 150e3 * 0.95, 150e3, 6},
		{"above capacity start", 150e3, 200e3, 300e3, 150e3 * 0.95, 150e3, 6},
		{"no start", 150e3, 0, 300e3, 150e3 * 0.95, 150e3, 6},
		// Everything the sender can offer passes: the answer is the top.
		{"sender bound", 1e9, 250e3, 300e3, 300e3 * 0.98, 300e3, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			var offered []float64
			res, err := searchSustained(context.Background(), c.start, c.hi, 6, 1, tunnelModel(c.capacity, c.hi, &offered))
			if err != nil {
				t.Fatal(err)
			}
			if res.PPS < c.wantLo || res.PPS > c.wantHi {
				t.Errorf("sustained %.0f pps, want %.0f..%.0f (probes %v)", res.PPS, c.wantLo, c.wantHi, offered)
			}
			if len(res.Probes) != len(offered) || len(offered) > c.maxProbes {
				t.Errorf("%d probes recorded, %d run, at most %d allowed", len(res.Probes), len(offered), c.maxProbes)
			}
			for _, p := range res.Probes {
				if p.Pass != (p.OfferedPPS <= c.capacity) {
					t.Errorf("probe at %.0f: pass %v with capacity %.0f", p.OfferedPPS, p.Pass, c.capacity)
				}
			}
		})
	}
}

func TestSearchSustainedSenderShortfallFails(t *testing.T) {
	// A sender that reaches only 100k: a probe asking 200k sees no loss
	// but must not pass, since the offered rate was never tested.
	var offered []float64
	res, err := searchSustained(context.Background(), 200e3, 300e3, 6, 1, tunnelModel(1e9, 100e3, &offered))
	if err != nil {
		t.Fatal(err)
	}
	if res.PPS > 100e3 || res.PPS < 90e3 {
		t.Errorf("sustained %.0f, want at most the sender's 100k and close to it (probes %v)", res.PPS, offered)
	}
	if res.Probes[0].Pass {
		t.Errorf("first probe at 200k passed though only 100k were sent: %+v", res.Probes[0])
	}
}

func TestSearchSustainedErrors(t *testing.T) {
	var offered []float64
	if _, err := searchSustained(context.Background(), 1, 0, 6, 1, tunnelModel(1, 1, &offered)); !errors.Is(err, ErrConfig) {
		t.Errorf("zero upper bound: %v, want ErrConfig", err)
	}
	boom := errors.New("iperf3 failed")
	calls := 0
	res, err := searchSustained(context.Background(), 100, 200, 6, 1, func(float64) (UDPResult, error) {
		calls++
		if calls == 2 {
			return UDPResult{}, boom
		}
		return UDPResult{SentPackets: 100, Seconds: 1, DeliveredPPS: 100}, nil
	})
	if !errors.Is(err, boom) || calls != 2 || len(res.Probes) != 1 || res.PPS != 100 {
		t.Errorf("probe error: err %v after %d calls, result %+v; want the error after 2 calls and the first probe kept", err, calls, res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := searchSustained(ctx, 100, 200, 6, 1, tunnelModel(1e9, 1e9, &offered)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestSearchSustainedRetriesMarginalFailures(t *testing.T) {
	// A tunnel that carries 150k, with one hiccup: the first probe at
	// 100k loses 2 %. Its retry passes, so the search goes on upwards.
	var offered []float64
	model := tunnelModel(150e3, 300e3, &offered)
	hiccup := true
	res, err := searchSustained(context.Background(), 100e3, 300e3, 6, 1, func(pps float64) (UDPResult, error) {
		u, err := model(pps)
		if hiccup {
			hiccup = false
			u.LostPackets = u.SentPackets / 50
			u.LostPercent = 2
			u.DeliveredPPS = pps * 0.98
		}
		return u, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(offered) < 2 || offered[0] != 100e3 || offered[1] != 100e3 || res.Probes[0].Pass || !res.Probes[1].Pass {
		t.Fatalf("want the marginal failure at 100k run again and passing; probes %+v", res.Probes)
	}
	if res.PPS < 150e3*0.95 {
		t.Errorf("sustained %.0f after a hiccup, want near the 150k capacity (offered %v)", res.PPS, offered)
	}

	// Far above capacity (loss > 3 %): no retry. Just above (2 %): one
	// retry, which fails again; the rate is then failed.
	offered = nil
	res, err = searchSustained(context.Background(), 300e3, 300e3, 1, 1, tunnelModel(150e3, 300e3, &offered))
	if err != nil || len(offered) != 1 || res.Probes[0].Pass {
		t.Errorf("a 50 %% loss probe: %d probes %+v, %v; want one failing probe", len(offered), res.Probes, err)
	}
	offered = nil
	res, err = searchSustained(context.Background(), 153e3, 300e3, 1, 1, tunnelModel(150e3, 300e3, &offered))
	if err != nil || len(offered) != 2 || res.Probes[1].Pass || res.PPS != 0 {
		t.Errorf("a 2 %% loss probe: %d probes %+v, %v; want it run twice and failed", len(offered), res.Probes, err)
	}
	// A retry that errors ends the search with the error.
	boom := errors.New("iperf3 failed")
	calls := 0
	_, err = searchSustained(context.Background(), 153e3, 300e3, 6, 1, func(pps float64) (UDPResult, error) {
		calls++
		if calls == 2 {
			return UDPResult{}, boom
		}
		return tunnelModel(150e3, 300e3, &offered)(pps)
	})
	if !errors.Is(err, boom) {
		t.Errorf("error in the retry: %v, want it returned", err)
	}
}
