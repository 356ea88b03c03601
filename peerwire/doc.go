// Package peerwire encodes and decodes the BitTorrent peer wire protocol: the
// handshake and messages of BEP 3, the Fast extension (BEP 6), the extension
// protocol (BEP 10) and its ut_metadata (BEP 9) and ut_pex (BEP 11) messages.
//
// It is a codec only: it knows nothing of torrents, choking or requests, and
// it reads from any io.Reader and writes to any io.Writer, so the same code
// serves TCP, uTP and WebRTC data channels.
//
// # Connection setup
//
// An outgoing connection writes its handshake with WriteHandshake and reads
// the peer's with ReadHandshake. A listener that serves many torrents reads in
// two steps: ReadHandshakeHeader gives the info hash, so the torrent can be
// looked up (and the listener's own handshake written) before ReadPeerID reads
// the rest.
//
// # Messages
//
// After the handshake, a Decoder reads messages and an Encoder writes them.
// Both are built for the piece-message hot path:
//
//   - A Decoder reads through one buffer of its own and, by default, returns
//     piece data as a slice of that buffer, valid until the next Decode: the
//     caller writes it to storage (or copies it) and no block is ever
//     allocated. With DecoderConfig.Blocks set, piece data instead arrives in
//     a buffer taken from a BlockPool, which the caller owns and puts back.
//   - A length prefix above the configured limits is refused as soon as its
//     four bytes are read, before anything is allocated.
//   - An Encoder appends messages to one buffer and writes it with a single
//     Write when Flush is called or the buffer fills, so a burst of small
//     messages costs one system call. WritePieceFrom reads a block straight
//     from an io.ReaderAt into that buffer, with no intermediate copy.
//
// Neither a Decoder nor an Encoder is safe for concurrent use: each peer
// connection has one reader goroutine and one writer goroutine.
//
// # Extension messages
//
// ExtensionHandshake, MetadataMessage and PEX are the payloads of Extended
// messages (Message.ExtendedPayload); they are bencoded with the project's
// bencode package and are decoded leniently where real clients differ from
// the BEPs, strictly where a mistake could cost memory.
package peerwire

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these (test
// with errors.Is) and add what was wrong.
var (
	// ErrBadHandshake reports a handshake that is not a BitTorrent handshake.
	ErrBadHandshake = errors.New("peerwire: bad handshake")
	// ErrMessageTooLong reports a length prefix above the Decoder's limits.
	ErrMessageTooLong = errors.New("peerwire: message too long")
	// ErrBadLength reports a message whose length does not fit its type,
	// such as a have message that is not exactly 5 bytes long.
	ErrBadLength = errors.New("peerwire: wrong message length")
	// ErrUnknownMessage reports a message id this package does not know. The
	// Decoder skips such a message and stays usable: the caller may ignore
	// the error and call Decode again, or drop the peer.
	ErrUnknownMessage = errors.New("peerwire: unknown message id")
	// ErrBadMessage reports a Message that cannot be encoded.
	ErrBadMessage = errors.New("peerwire: invalid message")
	// ErrBadExtension reports a malformed extension message (BEP 9, 10, 11).
	ErrBadExtension = errors.New("peerwire: malformed extension message")
)
