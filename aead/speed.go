package aead

import (
	"crypto/rand"
	"time"
)

// MeasureSpeed is VpnCloud's test_speed: a sender and a receiver session
// with a random key encrypt and decrypt 1000-byte messages, in rounds of
// 1000, until d has passed; the result is bytes*2/seconds/1e6 (MB/s counting
// both directions). The handshake advertises it per algorithm. It returns 0
// for an invalid algorithm.
func MeasureSpeed(alg Algorithm, d time.Duration) float32 {
	if !alg.Valid() {
		return 0
	}
	key := make([]byte, maxKeyLen)
	if _, err := rand.Read(key); err != nil {
		return 0
	}
	sender, err := NewSession(alg, true, key, key)
	if err != nil {
		return 0
	}
	receiver, err := NewSession(alg, false, key, key)
	if err != nil {
		return 0
	}
	const msgLen = 1000
	buf := make([]byte, HeaderLen+msgLen+TagLen)
	iterations := 0
	start := time.Now()
	for time.Since(start) < d {
		for range 1000 {
			pkt, err := sender.Seal(buf, msgLen)
			if err != nil {
				return 0
			}
			if _, err := receiver.Open(pkt); err != nil {
				return 0
			}
		}
		iterations += 1000
	}
	secs := time.Since(start).Seconds()
	return float32(float64(iterations) * msgLen * 2 / secs / 1e6)
}
