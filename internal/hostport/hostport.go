// Package hostport splits and joins "host:port" addresses as package net
// does, for the packages the browser engine builds: importing net costs the
// WebAssembly build ~300 KB of code (its fake network stack and DNS
// configuration), and these two functions are all the engine needs of it.
package hostport

import (
	"errors"
	"strings"
)

// ErrMissingPort and the others are Split's errors.
var (
	ErrMissingPort   = errors.New("missing port in address")
	ErrTooManyColons = errors.New("too many colons in address")
	ErrBrackets      = errors.New("unexpected '[' or ']' in address")
)

// Split splits "host:port", "[host]:port" or "[host%zone]:port" into host
// (without brackets) and port, as net.SplitHostPort.
func Split(addr string) (host, port string, err error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", "", &AddrError{ErrMissingPort, addr}
	}
	if addr[0] == '[' {
		end := strings.IndexByte(addr, ']')
		switch {
		case end < 0:
			return "", "", &AddrError{errors.New("missing ']' in address"), addr}
		case end+1 == len(addr):
			return "", "", &AddrError{ErrMissingPort, addr}
		case end+1 != i:
			if addr[end+1] == ':' {
				return "", "", &AddrError{ErrTooManyColons, addr}
			}
			return "", "", &AddrError{ErrMissingPort, addr}
		}
		host = addr[1:end]
		if strings.ContainsAny(host, "[]") || strings.ContainsAny(addr[end+1:], "[]") {
			return "", "", &AddrError{ErrBrackets, addr}
		}
		return host, addr[i+1:], nil
	}
	host = addr[:i]
	if strings.IndexByte(host, ':') >= 0 {
		return "", "", &AddrError{ErrTooManyColons, addr}
	}
	if strings.ContainsAny(addr, "[]") {
		return "", "", &AddrError{ErrBrackets, addr}
	}
	return host, addr[i+1:], nil
}

// Join makes "host:port", bracketing a host with a colon (IPv6), as
// net.JoinHostPort.
func Join(host, port string) string {
	if strings.IndexByte(host, ':') >= 0 {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// AddrError is Split's error: what is wrong, and the address.
type AddrError struct {
	Err  error
	Addr string
}

func (e *AddrError) Error() string { return "address " + e.Addr + ": " + e.Err.Error() }

func (e *AddrError) Unwrap() error { return e.Err }
