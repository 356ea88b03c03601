package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/swarmcast/swarmcast/metainfo"
)

// resumeDirName is the folder inside the download folder that holds resume
// sidecars. A torrent whose top-level name is this folder is refused, so its
// files can never overwrite a sidecar. It starts with a dot to stay out of
// the way in file managers.
const resumeDirName = ".swarmcast"

// torrentPaths returns each file's path relative to dir ("" for padding
// files, which are never opened), checked to stay inside dir.
func torrentPaths(dir string, info *metainfo.Info) ([]string, error) {
	files := info.FileList()
	out := make([]string, len(files))
	name := info.BestName()
	for i, f := range files {
		if f.IsPadding() {
			continue
		}
		comps := f.Path
		var err error
		if info.IsDir() {
			if len(f.Path) == 0 { // it would take the torrent folder's place
				err = errors.New("empty path")
			}
			comps = append([]string{name}, f.Path...)
		}
		var rel string
		if err == nil {
			rel, err = localPath(dir, comps)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: file %d %q: %w; the torrent is malformed or hostile, do not download it",
				ErrUnsafePath, i, strings.Join(comps, "/"), err)
		}
		out[i] = rel
	}
	return out, nil
}

// localPath joins path components into a path relative to dir and checks,
// again, that it cannot leave dir.
func localPath(dir string, comps []string) (string, error) {
	if len(comps) == 0 {
		return "", errors.New("empty path")
	}
	for _, c := range comps {
		if err := checkComponent(c); err != nil {
			return "", err
		}
	}
	if strings.EqualFold(comps[0], resumeDirName) {
		return "", fmt.Errorf("%q is reserved for resume data", resumeDirName)
	}
	rel := filepath.Join(comps...)
	if !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%q is not a local path", rel)
	}
	// Belt and braces: the path, once cleaned and joined to dir, still lies
	// below dir.
	back, err := filepath.Rel(filepath.Clean(dir), filepath.Join(dir, rel))
	if err != nil || back != rel || back == ".." || strings.HasPrefix(back, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%q leaves the download folder", rel)
	}
	return rel, nil
}

// checkComponent refuses a path component that is not a plain name.
func checkComponent(c string) error {
	switch {
	case c == "" || c == "." || c == "..":
		return fmt.Errorf("component %q", c)
	case strings.ContainsRune(c, 0):
		return errors.New("component contains NUL")
	case strings.ContainsAny(c, `/\`) || strings.ContainsRune(c, filepath.Separator):
		return fmt.Errorf("component %q contains a path separator", c)
	case filepath.VolumeName(c) != "" || (len(c) >= 2 && c[1] == ':'):
		return fmt.Errorf("component %q names a drive", c)
	case runtime.GOOS == "windows" && strings.ContainsRune(c, ':'):
		return fmt.Errorf("component %q contains ':' (an NTFS stream)", c)
	}
	return nil
}

// checkNoSymlink examines each component of rel below root with Lstat and
// refuses a symbolic link, or a non-folder where a folder must be. Components
// that do not exist yet are fine: they will be created as real folders.
func checkNoSymlink(root *os.Root, rel string) error {
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && !os.IsPathSeparator(rel[i]) {
			continue
		}
		fi, err := root.Lstat(rel[:i])
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("storage: checking %s: %w", rel[:i], err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%w: %s is a symbolic link; swarmcast never follows links in the download folder, remove it or choose another folder",
				ErrUnsafePath, rel[:i])
		}
		if i < len(rel) && !fi.IsDir() {
			return fmt.Errorf("%w: %s is not a folder; move it away or choose another download folder", ErrUnsafePath, rel[:i])
		}
	}
	return nil
}
