// Package mse is BitTorrent's message stream encryption (MSE, also called
// protocol encryption or PE): a Diffie-Hellman key exchange that hides the
// BitTorrent handshake from traffic shapers, and RC4 over the stream after
// it when both sides choose it. There is no BEP; the reference is the
// specification every major client follows (Azureus' "Message Stream
// Encryption", as libtorrent, Transmission and qBittorrent speak it):
//
//	1 A->B: Ya, PadA
//	2 B->A: Yb, PadB
//	3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//	        ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//	4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
//	5 A->B: ENCRYPT2(payload)
//
// A is the side that dialled (Initiate), B the side that accepted (Accept).
// SKEY is the info hash of the torrent; B finds it among its torrents by
// HASH('req2', SKEY) (see SKeyHash). The obfuscation this gives is against
// pattern matching, not against an attacker: RC4 is broken and the DH
// exchange is unauthenticated, as the specification intends.
//
// Every step a remote party controls is bounded: padding is at most 512
// bytes, the synchronisation searches stop after the padding could have
// ended, the initial payload is at most MaxInitialPayload bytes. Time is the
// caller's to bound (a deadline on the connection).
package mse

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"strings"
)

// Method is a set of crypto methods, as crypto_provide and crypto_select
// carry them.
type Method uint32

// The methods of the specification.
const (
	// Plaintext: after the handshake the payload is not encrypted.
	Plaintext Method = 0x01
	// RC4: the payload is RC4-encrypted, the first 1024 bytes of each
	// key stream discarded.
	RC4 Method = 0x02
)

// String names the methods in m, like "plaintext|rc4".
func (m Method) String() string {
	var names []string
	if m&Plaintext != 0 {
		names = append(names, "plaintext")
	}
	if m&RC4 != 0 {
		names = append(names, "rc4")
	}
	if rest := m &^ (Plaintext | RC4); rest != 0 {
		names = append(names, fmt.Sprintf("%#x", uint32(rest)))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// Policy says when a client encrypts, as libtorrent's enc_policy does. The
// zero value is Off, so that a program that says nothing keeps plain
// connections (and a test's hand-written peer keeps working); clients
// choose Prefer, as the swarmcast command does by default.
type Policy uint8

const (
	// Off dials plain connections only and refuses encrypted ones.
	Off Policy = iota
	// Prefer dials encrypted (offering RC4 and plaintext after the
	// handshake) and falls back to a plain connection when the peer
	// refuses; it accepts both kinds. libtorrent's and qBittorrent's
	// default.
	Prefer
	// Require dials and accepts only connections whose payload is RC4.
	Require
)

// ParsePolicy parses "prefer", "require" or "off".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "prefer":
		return Prefer, nil
	case "require":
		return Require, nil
	case "off":
		return Off, nil
	}
	return 0, fmt.Errorf("mse: unknown encryption policy %q: use prefer, require or off", s)
}

// String returns the policy's name, as ParsePolicy takes it.
func (p Policy) String() string {
	switch p {
	case Prefer:
		return "prefer"
	case Require:
		return "require"
	case Off:
		return "off"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// Provide is the crypto_provide an initiator with this policy sends.
func (p Policy) Provide() Method {
	if p == Require {
		return RC4
	}
	return RC4 | Plaintext
}

// Select is the crypto_select a receiver with this policy answers to
// provided, or 0 when none of it is acceptable. Prefer chooses plaintext
// when the peer allows it, as libtorrent does by default: the handshake
// already hides the protocol, and RC4 costs CPU on every byte.
func (p Policy) Select(provided Method) Method {
	switch {
	case p == Off:
		return 0
	case p == Prefer && provided&Plaintext != 0:
		return Plaintext
	case provided&RC4 != 0:
		return RC4
	}
	return 0
}

// Sizes and bounds from the specification.
const (
	// KeyLen is the length of a DH public key and of the shared secret S.
	KeyLen = 96
	// MaxPad is the most padding (PadA, PadB, PadC, PadD) either side may send.
	MaxPad = 512
	// MaxInitialPayload bounds len(IA). The field allows 65535; in practice
	// IA is the 68-byte BitTorrent handshake (libtorrent sends exactly
	// that), and 1 KiB leaves room for a client that adds a message or two.
	MaxInitialPayload = 1024
	// vcLen is the length of the verification constant, eight zeros.
	vcLen = 8
	// discard is how much of each RC4 key stream is thrown away.
	discard = 1024
)

// Errors of the handshake. Each is wrapped with what was being read.
var (
	// ErrNoPeerKey: the peer closed the connection (or sent too little)
	// instead of its public key: most likely a client without MSE, which
	// read our key as a bad BitTorrent handshake.
	ErrNoPeerKey = errors.New("mse: peer sent no key (a client without encryption?)")
	// ErrNoSync: the peer's padding ran past 512 bytes without the
	// synchronisation pattern (HASH('req1', S) or the encrypted VC): not
	// an MSE peer, or a broken one.
	ErrNoSync = errors.New("mse: no synchronisation pattern within the padding allowed")
	// ErrUnknownSKey: the peer asked for a torrent we do not serve.
	ErrUnknownSKey = errors.New("mse: peer asked for a torrent we do not serve")
	// ErrBadVC: the verification constant did not decrypt to zeros.
	ErrBadVC = errors.New("mse: bad verification constant")
	// ErrNoMethod: the two sides have no crypto method in common.
	ErrNoMethod = errors.New("mse: no crypto method in common (one side requires encryption the other does not offer)")
	// ErrBadKey: the peer's DH public key is out of range.
	ErrBadKey = errors.New("mse: peer's public key is out of range")
	// ErrTooLong: a length field is over its bound.
	ErrTooLong = errors.New("mse: length over the bound")
)

// SKeyHash returns HASH('req2', skey), by which a receiver recognises the
// torrent an initiator asks for.
func SKeyHash(skey [20]byte) [20]byte {
	return hash([]byte("req2"), skey[:])
}

func hash(parts ...[]byte) [20]byte {
	h := sha1.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out [20]byte
	h.Sum(out[:0])
	return out
}
