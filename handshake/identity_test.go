package handshake

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

const interopDir = "/work/shared/interop"

func readTSV(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(interopDir + "/" + name)
	if err != nil {
		t.Fatalf("open vectors: %v", err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		rows = append(rows, strings.Split(sc.Text(), "\t"))
	}
	if len(rows) == 0 {
		t.Fatal("no vectors")
	}
	return rows
}

func TestBase62VpnCloudValues(t *testing.T) {
	cases := []struct {
		in  []byte
		out string
	}{
		{[]byte{0}, ""},
		{[]byte{61}, "z"},
		{[]byte{62}, "10"},
		{[]byte{1, 0}, "48"},
		{[]byte("Test"), "1Xp7Ke"},
	}
	for _, c := range cases {
		if got := ToBase62(c.in); got != c.out {
			t.Errorf("ToBase62(%v) = %q, want %q", c.in, got, c.out)
		}
	}
	decodes := []struct {
		in  string
		out []byte
	}{
		{"", []byte{}},
		{"z", []byte{61}},
		{"10", []byte{62}},
		{"48", []byte{1, 0}},
		{"1Xp7Ke", []byte("Test")},
	}
	for _, c := range decodes {
		got, err := FromBase62(c.in)
		if err != nil || !bytes.Equal(got, c.out) {
			t.Errorf("FromBase62(%q) = %v, %v; want %v", c.in, got, err, c.out)
		}
	}
	for _, bad := range []string{"-", "ab c", "ä", "abc!"} {
		if _, err := FromBase62(bad); !errors.Is(err, ErrBase62) {
			t.Errorf("FromBase62(%q) err = %v, want ErrBase62", bad, err)
		}
	}
}

func TestBase62RoundTrip(t *testing.T) {
	r := newDetRand(1)
	for n := 1; n < 80; n++ {
		b := make([]byte, n)
		r.Read(b)
		b[0] |= 1 // no leading zero byte: base62 drops those
		s := ToBase62(b)
		got, err := FromBase62(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip %x -> %q -> %x, %v", b, s, got, err)
		}
	}
}

func TestGenKeyPasswordVectors(t *testing.T) {
	for _, row := range readTSV(t, "genkey-password-vectors.tsv") {
		priv, pub, err := GenKey(row[0], true, nil)
		if err != nil || priv != row[1] || pub != row[2] {
			t.Errorf("GenKey(%q) = %q %q %v; want %q %q", row[0], priv, pub, err, row[1], row[2])
		}
		id := IdentityFromPassword(row[0])
		if id.PrivateKeyString() != row[1] || id.Public().String() != row[2] {
			t.Errorf("IdentityFromPassword(%q) mismatch", row[0])
		}
		if _, err := ParseKeyPair(row[1], row[2]); err != nil {
			t.Errorf("ParseKeyPair(%q): %v", row[0], err)
		}
	}
}

func TestGenKeyRandomVectors(t *testing.T) {
	for _, row := range readTSV(t, "genkey-random-vectors.tsv") {
		id, err := ParsePrivateKey(row[0])
		if err != nil {
			t.Fatalf("ParsePrivateKey(%q): %v", row[0], err)
		}
		if id.Public().String() != row[1] || id.PrivateKeyString() != row[0] {
			t.Errorf("private %q -> public %q, want %q", row[0], id.Public(), row[1])
		}
		pk, err := ParsePublicKey(row[1])
		if err != nil || pk != id.Public() {
			t.Errorf("ParsePublicKey(%q) = %v, %v", row[1], pk, err)
		}
	}
}

func TestGenKeyRandom(t *testing.T) {
	seed := bytes.Repeat([]byte{0x42}, 32)
	priv, pub, err := GenKey("", false, bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	if priv != ToBase62(seed) {
		t.Errorf("priv = %q, want base62 of seed", priv)
	}
	id, err := ParseKeyPair(priv, pub)
	if err != nil || id.Public().String() != pub {
		t.Errorf("ParseKeyPair of generated keys: %v", err)
	}
	if _, _, err := GenKey("", false, bytes.NewReader(nil)); !errors.Is(err, ErrRandom) {
		t.Errorf("GenKey with empty reader err = %v, want ErrRandom", err)
	}
}

func TestParseKeyErrors(t *testing.T) {
	rows := readTSV(t, "genkey-password-vectors.tsv")
	if _, err := ParseKeyPair(rows[0][1], rows[1][2]); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("mismatched pair err = %v", err)
	}
	tooLong := ToBase62(bytes.Repeat([]byte{0xff}, 33))
	for _, s := range []string{"", tooLong, "not base62!"} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", s)
		}
		if _, err := ParsePrivateKey(s); err == nil {
			t.Errorf("ParsePrivateKey(%q) accepted", s)
		}
	}
	if _, err := ParseKeyPair("!", rows[0][2]); !errors.Is(err, ErrBase62) {
		t.Errorf("bad private err = %v", err)
	}
	if _, err := ParseKeyPair(rows[0][1], "!"); !errors.Is(err, ErrBase62) {
		t.Errorf("bad public err = %v", err)
	}
}

func TestParseKeyLeadingZero(t *testing.T) {
	seed := make([]byte, 32)
	seed[5] = 7
	id := identityFromSeed(seed)
	back, err := ParsePrivateKey(id.PrivateKeyString())
	if err != nil || back.Public() != id.Public() {
		t.Fatalf("leading-zero seed round trip: %v", err)
	}
}
