package trackerserver

import (
	"encoding/binary"
	"io"
	"sync"
	"time"
)

// A socket's reads: WebSocket frames (RFC 6455) parsed from the raw socket.
//
// Why not coder/websocket's reader, which the tracker used before: it keeps
// a 4 KiB buffer for each socket while the socket is idle, and its reader
// goroutine parks deep in the library's read, with 8 KiB of stack that the
// collector cannot shrink. With 10 million sockets, memory per socket decides
// how many instances a cluster needs. Here a socket's goroutine waits for its
// socket with no buffer (rawConn.readPooled takes one from inPool when data
// is there), handles the frames it read, gives the buffer back and parks at
// the top of its loop, where its stack is shallow and shrinks. A buffer is
// kept between reads only while a frame is incomplete.
//
// What a client may send is what RFC 6455 lets it: masked frames, text,
// binary, continuation, ping, pong and close, no extension (the upgrade
// accepts none, so the reserved bits must be clear). Anything else closes
// the socket with 1002 (protocol error); a message over MaxMessageSize,
// with 1009.

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// WebSocket close codes the tracker sends.
const (
	closeNormal        = 1000
	closeGoingAway     = 1001
	closeProtocolError = 1002
	closePolicy        = 1008
	closeTooBig        = 1009
)

// closeWait bounds the closing handshake: how long a socket the tracker
// closes waits for the peer's close frame, and a closed socket for its
// last frames to be written.
const closeWait = 5 * time.Second

// maxFrameHeader is the longest header a client sends: 2 bytes, 8 of
// length, 4 of mask.
const maxFrameHeader = 14

// wsFrame is a client frame's header.
type wsFrame struct {
	fin    bool
	op     byte
	mask   [4]byte
	hlen   int // header bytes
	length int // payload bytes
}

// wsError is a frame that closes the socket: the close code and reason.
type wsError struct {
	code   uint16
	reason string
}

func (e *wsError) Error() string { return e.reason }

var (
	errUnmasked        = &wsError{closeProtocolError, "frames from a client must be masked"}
	errReservedBits    = &wsError{closeProtocolError, "reserved bits set"}
	errBadOpcode       = &wsError{closeProtocolError, "unknown opcode"}
	errBadControl      = &wsError{closeProtocolError, "control frame fragmented or over 125 bytes"}
	errBadLength       = &wsError{closeProtocolError, "frame length over 2^63"}
	errNoContinuation  = &wsError{closeProtocolError, "continuation frame outside a message"}
	errNotContinuation = &wsError{closeProtocolError, "new message inside a fragmented one"}
	errBadClose        = &wsError{closeProtocolError, "close frame of 1 byte"}
	errTooBig          = &wsError{closeTooBig, "message too big"}
)

// parseFrameHeader parses the frame header at the start of b. ok is false
// while b holds only part of it. A header no client may send, or whose
// payload takes the message (of msgLen bytes so far) past limit, is an
// error.
func parseFrameHeader(b []byte, msgLen, limit int) (f wsFrame, ok bool, err *wsError) {
	if len(b) < 2 {
		return f, false, nil
	}
	b0, b1 := b[0], b[1]
	f.fin = b0&0x80 != 0
	f.op = b0 & 0x0F
	switch {
	case b0&0x70 != 0:
		return f, false, errReservedBits
	case b1&0x80 == 0:
		return f, false, errUnmasked
	}
	switch f.op {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
	default:
		return f, false, errBadOpcode
	}
	n := uint64(b1 & 0x7F)
	f.hlen = 2
	switch n {
	case 126:
		f.hlen = 4
		if len(b) < f.hlen {
			return f, false, nil
		}
		n = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		f.hlen = 10
		if len(b) < f.hlen {
			return f, false, nil
		}
		n = binary.BigEndian.Uint64(b[2:])
		if n>>63 != 0 {
			return f, false, errBadLength
		}
	}
	if f.op >= opClose {
		if !f.fin || n > 125 {
			return f, false, errBadControl
		}
	} else if n > uint64(limit-msgLen) {
		return f, false, errTooBig
	}
	if len(b) < f.hlen+4 {
		return f, false, nil
	}
	copy(f.mask[:], b[f.hlen:])
	f.hlen += 4
	f.length = int(n)
	return f, true, nil
}

// unmask unmasks p in place, with the mask's byte at offset 0 first.
func unmask(p []byte, mask [4]byte) {
	m := binary.LittleEndian.Uint32(mask[:])
	m64 := uint64(m) | uint64(m)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^m64)
	}
	for ; i < len(p); i++ {
		p[i] ^= mask[i&3]
	}
}

// pooledReader reads a socket into buffers from a pool (rawConn.readPooled).
type pooledReader interface {
	readPooled(bp *[]byte, keep int, pool *sync.Pool) (*[]byte, int, error)
}

// blockingReader is a pooledReader for connections without raw socket
// calls (other platforms): it holds a buffer while it waits.
type blockingReader struct{ r io.Reader }

func (br blockingReader) readPooled(bp *[]byte, keep int, pool *sync.Pool) (*[]byte, int, error) {
	if bp == nil {
		bp = pool.Get().(*[]byte)
	}
	for {
		n, err := br.r.Read((*bp)[keep:cap(*bp)])
		if n > 0 {
			return bp, n, nil // an error comes again with the next read
		}
		if err != nil {
			return bp, 0, err
		}
	}
}

func newPooledReader(r io.Reader) pooledReader {
	if pr, ok := r.(pooledReader); ok {
		return pr
	}
	return blockingReader{r}
}

// peerClosed is readLoop's code for a socket whose peer sent a close frame,
// which has been answered.
const peerClosed = 1

// frameReader is the state of a socket's reads: the read buffer (nil while
// it holds nothing) and a fragmented message being put together.
type frameReader struct {
	bp         *[]byte
	start, end int // (*bp)[start:end] is read and not yet parsed
	msg        []byte
	msgOp      byte // the fragmented message's opcode; 0 when none
}

// release gives the buffers back.
func (fr *frameReader) release() {
	if fr.bp != nil {
		putIn(fr.bp)
		fr.bp = nil
	}
	fr.start, fr.end = 0, 0
	fr.msg, fr.msgOp = nil, 0
}

func putIn(bp *[]byte) {
	if cap(*bp) <= maxPooledMsg {
		*bp = (*bp)[:0]
		inPool.Put(bp)
	}
}

// readLoop reads frames and handles messages until the socket fails or
// closes, a frame breaks the protocol or a message breaks a rule. It returns
// the close code to send (0 for none: the socket failed; peerClosed: the
// peer's close frame was answered). Once the tracker has sent its close
// frame (closeSent), messages are dropped, and the loop ends at the peer's.
func (c *wsConn) readLoop(fr *frameReader) (uint16, string) {
	limit := int(c.s.cfg.MaxMessageSize)
	for {
		// need: the bytes of the incomplete frame at fr.start, or what
		// its header may take while the header is incomplete.
		need := 0
		for fr.bp != nil && fr.start < fr.end {
			b := (*fr.bp)[fr.start:fr.end]
			f, ok, werr := parseFrameHeader(b, len(fr.msg), limit)
			if werr != nil {
				return werr.code, werr.reason
			}
			if !ok {
				need = len(b) + maxFrameHeader
				break
			}
			if len(b) < f.hlen+f.length {
				need = f.hlen + f.length
				break
			}
			// The full slice expression: nothing appended to the payload
			// may overwrite the frames after it.
			p := b[f.hlen : f.hlen+f.length : f.hlen+f.length]
			unmask(p, f.mask)
			fr.start += f.hlen + f.length
			if code, reason, done := c.frame(fr, &f, p); done {
				return code, reason
			}
		}
		// Keep what is left of an incomplete frame at the front of the
		// buffer, with room for the rest of it; give a buffer with
		// nothing in it back before waiting.
		if fr.bp != nil {
			if fr.start == fr.end {
				putIn(fr.bp)
				fr.bp, fr.start, fr.end = nil, 0, 0
			} else {
				b := *fr.bp
				if need > cap(b) {
					nb := make([]byte, 0, max(need, 2*cap(b)))
					copy(nb[:cap(nb)], b[fr.start:fr.end])
					putIn(fr.bp)
					fr.bp = &nb
				} else {
					copy(b[:cap(b)], b[fr.start:fr.end])
				}
				fr.end -= fr.start
				fr.start = 0
			}
		}
		bp, n, err := c.r.readPooled(fr.bp, fr.end, &inPool)
		fr.bp = bp
		if err != nil {
			return 0, ""
		}
		fr.end += n
	}
}

// frame handles one frame (payload p, unmasked). done: the loop ends, with
// the close code to send.
func (c *wsConn) frame(fr *frameReader, f *wsFrame, p []byte) (code uint16, reason string, done bool) {
	switch f.op {
	case opPing:
		c.sendControl(opPong, p)
		return 0, "", false
	case opPong:
		c.lastActivity.Store(c.s.now())
		c.pingSent.Store(0)
		return 0, "", false
	case opClose:
		if len(p) == 1 {
			return errBadClose.code, errBadClose.reason, true
		}
		if c.closeSent.CompareAndSwap(false, true) {
			// Answer with the peer's code, as RFC 6455 has it, or none.
			c.sendControl(opClose, p[:min(len(p), 2)])
		}
		return peerClosed, "", true
	case opContinuation:
		if fr.msgOp == 0 {
			return errNoContinuation.code, errNoContinuation.reason, true
		}
		fr.msg = append(fr.msg, p...)
		if !f.fin {
			return 0, "", false
		}
		p = fr.msg
		fr.msg, fr.msgOp = nil, 0
	default: // text or binary
		if fr.msgOp != 0 {
			return errNotContinuation.code, errNotContinuation.reason, true
		}
		if !f.fin {
			fr.msgOp = f.op
			fr.msg = append(make([]byte, 0, max(len(p), 1024)), p...)
			return 0, "", false
		}
	}
	if c.closeSent.Load() {
		return 0, "", false // the socket is closing: messages are dropped
	}
	// Both text and binary messages are taken: bittorrent-tracker runs
	// JSON.parse on either.
	if !c.handle(p, c.s.now()) {
		return closePolicy, "too many messages", true
	}
	return 0, "", false
}

// sendControl writes a control frame (close, ping or pong) with payload p
// (at most 125 bytes), in order with the socket's messages.
func (c *wsConn) sendControl(op byte, p []byte) {
	var b [2 + 125]byte
	b[0] = 0x80 | op
	b[1] = byte(len(p))
	n := 2 + copy(b[2:], p)
	c.writeRaw(b[:n])
}

// sendClose sends a close frame with code and reason (cut to fit), once.
func (c *wsConn) sendClose(code uint16, reason string) bool {
	if !c.closeSent.CompareAndSwap(false, true) {
		return false
	}
	var p [125]byte
	binary.BigEndian.PutUint16(p[:], code)
	n := 2 + copy(p[2:], reason)
	c.sendControl(opClose, p[:n])
	return true
}
