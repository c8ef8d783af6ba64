package main

import (
	"fmt"
	"io"

	"github.com/peercloud/peercloud/handshake"
)

// genkey prints a key pair exactly as `vpncloud genkey` does: derived from
// password when one is given, else random from rand (nil: crypto/rand).
func genkey(w io.Writer, password *string, rand io.Reader) error {
	pw, usePassword := "", false
	if password != nil {
		pw, usePassword = *password, true
	}
	priv, pub, err := handshake.GenKey(pw, usePassword, rand)
	if err != nil {
		return fmt.Errorf("genkey: %w", err)
	}
	_, err = fmt.Fprintf(w, "Private key: %s\nPublic key: %s\n\n"+
		"Attention: Keep the private key secret and use only the public key on other nodes to establish trust.\n",
		priv, pub)
	if err != nil {
		return fmt.Errorf("genkey: write: %w", err)
	}
	return nil
}
