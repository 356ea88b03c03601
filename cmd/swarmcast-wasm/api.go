//go:build js

package main

import (
	"errors"
	"fmt"
	"syscall/js"

	"github.com/swarmcast/swarmcast/internal/minijson"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
)

// jsObject is globalThis.swarmcastEngine, what worker.js calls. Every
// method returns a promise (the engine's calls block, and a Go function
// called from JavaScript must not). Structured results are JSON text, which
// worker.js parses: one conversion instead of a js.Value per field.
//
//	start(optionsJSON)                 -> JSON {storage: "opfs" | "memory"}
//	add(magnet | Uint8Array, optsJSON) -> infoHash (hex)
//	info(infoHash)                     -> JSON {infoHash, name, length, magnetURI, files}, once known
//	stats(infoHash)                    -> JSON {progress, downloaded, ..., done}
//	open(infoHash, fileIndex, start)   -> reader id
//	read(readerID, maxBytes)           -> Uint8Array, or null at the end
//	close(readerID)                    -> undefined
//	seed(blob, name, optsJSON)         -> JSON info, as info()
//	import(infoHash, offset, Uint8Array) -> pieces taken to be verified (torrent.Import)
//	remove(infoHash)                   -> undefined
//	destroy()                          -> undefined; the program ends
func (e *engine) jsObject() js.Value {
	o := js.Global().Get("Object").New()
	method := func(name string, fn func(args []js.Value) (any, error)) {
		o.Set(name, js.FuncOf(func(_ js.Value, args []js.Value) any {
			return promise(func() (any, error) { return fn(args) })
		}))
	}
	method("start", func(args []js.Value) (any, error) {
		opts, err := optionsArg(args, 0, startOptionsOf)
		if err != nil {
			return nil, err
		}
		if err := e.start(opts); err != nil {
			return nil, err
		}
		return string(minijson.NewObject(nil).String("storage", e.storageKind).Bytes()), nil
	})
	method("add", func(args []js.Value) (any, error) {
		if len(args) < 1 {
			return nil, errors.New("swarmcast: add needs a magnet link or a torrent's bytes")
		}
		opts, err := optionsArg(args, 1, addOptionsOf)
		if err != nil {
			return nil, err
		}
		var t *torrent.Torrent
		if args[0].Type() == js.TypeString {
			t, err = e.add(nil, args[0].String(), opts)
		} else {
			t, err = e.add(bytesOf(args[0]), "", opts)
		}
		if err != nil {
			return nil, err
		}
		return t.InfoHash().String(), nil
	})
	method("info", func(args []js.Value) (any, error) {
		t, err := e.torrentArg(args)
		if err != nil {
			return nil, err
		}
		ti, err := e.info(t)
		if err != nil {
			return nil, err
		}
		return ti.json(), nil
	})
	method("stats", func(args []js.Value) (any, error) {
		t, err := e.torrentArg(args)
		if err != nil {
			return nil, err
		}
		st := statsOf(t)
		return st.json(), nil
	})
	method("open", func(args []js.Value) (any, error) {
		t, err := e.torrentArg(args)
		if err != nil {
			return nil, err
		}
		if len(args) < 3 {
			return nil, errors.New("swarmcast: open needs an info hash, a file index and an offset")
		}
		select {
		case <-t.GotInfo():
		default:
			return nil, fmt.Errorf("swarmcast: the info of %s is not known yet", t.InfoHash())
		}
		return e.openStream(t, args[1].Int(), int64(args[2].Float()))
	})
	method("read", func(args []js.Value) (any, error) {
		if len(args) < 2 {
			return nil, errors.New("swarmcast: read needs a reader id and a size")
		}
		b, err := e.read(args[0].Int(), args[1].Int())
		if err != nil || b == nil {
			return nil, err
		}
		u8 := js.Global().Get("Uint8Array").New(len(b))
		js.CopyBytesToJS(u8, b)
		return u8, nil
	})
	method("close", func(args []js.Value) (any, error) {
		if len(args) > 0 {
			e.closeStream(args[0].Int())
		}
		return nil, nil
	})
	method("seed", func(args []js.Value) (any, error) {
		if len(args) < 2 {
			return nil, errors.New("swarmcast: seed needs a Blob and a name")
		}
		opts, err := optionsArg(args, 2, addOptionsOf)
		if err != nil {
			return nil, err
		}
		blob := args[0]
		r, err := newBlobReader(blob)
		if err != nil {
			return nil, err
		}
		t, err := e.seed(r, args[1].String(), r.size, opts.Trackers)
		if err != nil {
			return nil, err
		}
		ti, err := e.info(t)
		if err != nil {
			return nil, err
		}
		return ti.json(), nil
	})
	method("import", func(args []js.Value) (any, error) {
		t, err := e.torrentArg(args)
		if err != nil {
			return nil, err
		}
		if len(args) < 3 || args[1].Type() != js.TypeNumber || args[2].Type() != js.TypeObject {
			return nil, errors.New("swarmcast: import needs an info hash, an offset in the torrent and the bytes")
		}
		if n := args[2].Get("length"); n.Type() != js.TypeNumber || n.Int() > torrent.MaxImport {
			return nil, fmt.Errorf("swarmcast: import takes at most %d bytes at once", torrent.MaxImport)
		}
		n, err := t.Import(int64(args[1].Float()), bytesOf(args[2]))
		if err != nil {
			return nil, err
		}
		return n, nil
	})
	method("remove", func(args []js.Value) (any, error) {
		t, err := e.torrentArg(args)
		if err != nil {
			return nil, err
		}
		return nil, e.remove(t)
	})
	method("destroy", func([]js.Value) (any, error) { return nil, e.destroy() })
	return o
}

// torrentArg finds the torrent whose hex info hash is args[0].
func (e *engine) torrentArg(args []js.Value) (*torrent.Torrent, error) {
	c, err := e.get()
	if err != nil {
		return nil, err
	}
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return nil, errors.New("swarmcast: an info hash is needed")
	}
	h, err := metainfo.ParseHash(args[0].String())
	if err != nil {
		return nil, err
	}
	t, ok := c.Torrent(h)
	if !ok {
		return nil, fmt.Errorf("swarmcast: no torrent %s in this client", h)
	}
	return t, nil
}

// promise runs fn on a goroutine and returns a promise of its result.
func promise(fn func() (any, error)) js.Value {
	var handler js.Func
	handler = js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			v, err := fn()
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	p := js.Global().Get("Promise").New(handler)
	handler.Release()
	return p
}

// optionsArg reads argument i, a JSON object of options (absent or empty:
// none), with read.
func optionsArg[T any](args []js.Value, i int, read func(minijson.Value) (T, error)) (T, error) {
	v := minijson.Value{Kind: minijson.Object}
	if len(args) > i && args[i].Type() == js.TypeString && args[i].String() != "" {
		var err error
		if v, err = minijson.Parse([]byte(args[i].String())); err != nil {
			var zero T
			return zero, fmt.Errorf("swarmcast: options: %w", err)
		}
		if v.Kind != minijson.Object && v.Kind != minijson.Null {
			var zero T
			return zero, errors.New("swarmcast: options: want an object")
		}
	}
	opts, err := read(v)
	if err != nil {
		return opts, fmt.Errorf("swarmcast: options: %w", err)
	}
	return opts, nil
}

// bytesOf copies a Uint8Array or ArrayBuffer into Go.
func bytesOf(v js.Value) []byte {
	if v.InstanceOf(js.Global().Get("ArrayBuffer")) {
		v = js.Global().Get("Uint8Array").New(v)
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b
}

// consoleWriter writes log lines to the worker's console.
type consoleWriter struct{}

func (consoleWriter) Write(p []byte) (int, error) {
	js.Global().Get("console").Call("debug", string(p))
	return len(p), nil
}
