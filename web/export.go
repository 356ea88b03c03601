package web

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Export writes the browser client (ClientFiles, with the wasm's .br and .gz
// beside it) and the watch page into dir, creating it, for a site that
// serves them with its own web server. It returns the names written. It
// writes nothing and returns ErrNotBuilt when the binary has no wasm. Each
// file is written to a temporary name and renamed, so a server reading dir
// meanwhile never sees half a file.
func Export(dir string) ([]string, error) { return theSite().export(dir) }

func (s *site) export(dir string) ([]string, error) {
	if !s.built() {
		return nil, ErrNotBuilt
	}
	for _, n := range ClientFiles {
		if s.assets["/"+n] == nil {
			return nil, fmt.Errorf("web: %s is not in this binary: run scripts/build-wasm.sh, then build swarmcast again", n)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var names []string
	for _, a := range s.assets {
		files := map[string]string{a.name: a.path}
		for coding, p := range a.coded {
			files[a.name+map[string]string{"br": ".br", "gzip": ".gz"}[coding]] = p
		}
		for name, p := range files {
			if err := writeFrom(a.fsys, p, filepath.Join(dir, name)); err != nil {
				return names, err
			}
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// writeFrom copies p of fsys to dst through a temporary file and a rename.
func writeFrom(fsys fs.FS, p, dst string) error {
	src, err := fsys.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone already after a successful rename
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return os.Rename(tmp.Name(), dst)
}
