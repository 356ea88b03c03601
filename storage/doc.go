// Package storage keeps the verified pieces of torrents: on disk (NewFile)
// or in memory (NewMemory).
//
// A Storage is a backend; OpenTorrent gives a TorrentStorage for one torrent,
// addressed like an io.ReaderAt and io.WriterAt in the torrent's byte stream
// (all files end to end, in the order of the info dictionary). Padding files
// (BEP 47) take up room in that stream but are never stored: writes to them
// are dropped and reads of them return zeros. Bytes never written read as
// zeros too. PieceOf gives the same view relative to one piece.
//
// # Completion
//
// A TorrentStorage also remembers which pieces were verified. The engine
// writes a piece's blocks, checks its hash and calls MarkComplete; from then
// on WriteAt refuses to touch the piece (ErrPieceComplete), so a late or
// hostile block cannot damage verified data. Completion reports what an
// earlier run verified, so that a restart re-verifies nothing it trusts.
//
// # The file backend
//
// Multi-file torrents live under <dir>/<torrent name>/<path...>, single-file
// torrents at <dir>/<name>. A file is created (with its parent folders) on
// its first write, so the unselected files of a torrent never appear. Each
// torrent keeps at most FileConfig.MaxOpenFiles files open and closes the
// least recently used one beyond that. Data goes through pwrite/pread on
// those files: no mmap, no copy and no allocation per block.
//
// Paths are checked twice even though metainfo.Info.Validate already refused
// unsafe names: each component is checked again and the joined path must be
// local to dir (filepath.IsLocal and filepath.Rel). Symbolic links are not
// followed out of dir: before a file is first opened, every component of its
// path below dir is examined with Lstat and a symbolic link anywhere on the
// way is refused (ErrUnsafePath), and every open goes through an os.Root on
// dir, which the operating system confines to dir even if a link appears
// after the check (on js/wasm os.Root checks without that guarantee).
//
// # Resume
//
// Completion is kept in a sidecar file, <dir>/.swarmcast/<info hash>.resume,
// holding a format version, the info hash, the piece count, the bitfield of
// verified pieces and, for each file, its size and modification time when the
// sidecar was written. When a torrent is opened again, a file whose size or
// modification time differs (or that is gone) loses the pieces that touch it:
// the engine verifies those again. A sidecar that is missing, damaged or for
// another torrent is ignored, and everything is verified again.
//
// The sidecar is replaced atomically (written to a temporary file, then
// renamed) by Flush and Close, and at most every ResumeSaveInterval from
// MarkComplete, which otherwise only sets a bit. A piece is only recorded
// complete after its bytes were written to the file, so the operating
// system's page cache holds them: a process killed with SIGKILL loses no data,
// and a sidecar up to ResumeSaveInterval old only costs verifying the pieces
// completed since. Data is not fsynced by default, because a crash of the
// process (the common case) does not need it and an fsync every few seconds
// would stall a fast download on the disk; after a power loss, the
// modification times of files written since the last sidecar no longer match
// in most cases, but not in all. FileConfig.Sync adds the fsyncs (data files
// before the sidecar that claims their pieces, then the sidecar) for callers
// that need a power loss never to leave a wrong byte recorded as verified.
//
// # Concurrency
//
// A TorrentStorage is safe for concurrent use: reads and writes of different
// blocks proceed in parallel (the file backend holds its lock only to find an
// open file, never during I/O).
package storage

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these, or the
// operating system's error, with the file and what to do next.
var (
	// ErrClosed reports use of a TorrentStorage after Close.
	ErrClosed = errors.New("storage: torrent storage is closed")
	// ErrUnsafePath reports a file path that would leave the download
	// folder, or a symbolic link on the way to a file.
	ErrUnsafePath = errors.New("storage: unsafe path")
	// ErrOutOfRange reports an offset or piece index outside the torrent.
	ErrOutOfRange = errors.New("storage: outside the torrent")
	// ErrPieceComplete reports a write to a piece already marked complete.
	// Call MarkComplete(piece, false) first to overwrite it on purpose.
	ErrPieceComplete = errors.New("storage: piece is already verified")
	// ErrBadInfo reports an info dictionary whose sizes do not agree, which
	// metainfo.Info.Validate would have refused.
	ErrBadInfo = errors.New("storage: inconsistent info dictionary")
	// ErrMissingData is returned when bytes of a verified piece cannot be
	// read because their file was deleted, moved or truncated since: they
	// are not served as zeros. Starting the torrent again rechecks it.
	ErrMissingData = errors.New("storage: verified data is missing")
)
