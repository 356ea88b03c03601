package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ownModuleBuildTimeout bounds `go mod tidy` and `go build` of a program in
// a module of its own: with the caches of a checkout's own test run both
// take seconds; a cold cache fetches and builds pion and the rest (a few
// minutes on the project's 2-core machines).
const ownModuleBuildTimeout = 5 * time.Minute

// BuildInOwnModule builds the single-file program mainFile as a user's
// program would be: in a module of its own (example.com/embed) that
// requires github.com/swarmcast/swarmcast and replaces it with this
// checkout, with the checkout's go.sum. It returns the binary's path. The
// go command's settings (GOFLAGS, GOPROXY, the caches) come from the
// environment; GOWORK is off, so that no surrounding workspace counts.
func BuildInOwnModule(t testing.TB, mainFile string) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := ""
	for _, l := range strings.Split(string(gomod), "\n") {
		if strings.HasPrefix(l, "go ") {
			goLine = strings.TrimSpace(l)
		}
	}
	if goLine == "" {
		t.Fatalf("%s/go.mod has no go directive", root)
	}
	src, err := os.ReadFile(mainFile)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mod := "module example.com/embed\n\n" + goLine + "\n\nrequire github.com/swarmcast/swarmcast v0.0.0\n\n" +
		"replace github.com/swarmcast/swarmcast => " + strconv.Quote(root) + "\n"
	for name, b := range map[string][]byte{"main.go": src, "go.mod": []byte(mod), "go.sum": sum} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "embed")
	ctx, cancel := context.WithTimeout(context.Background(), ownModuleBuildTimeout)
	defer cancel()
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", bin, "."}} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s in a module of its own: %v\n%s\n--- go.mod\n%s", strings.Join(args, " "), err, out, mod)
		}
	}
	return bin
}

// ModuleRoot finds the folder holding swarmcast's go.mod, from the working
// directory (a test's package folder).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if !strings.HasPrefix(string(b), "module github.com/swarmcast/swarmcast\n") {
				return "", fmt.Errorf("%s/go.mod is not swarmcast's", dir)
			}
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the package folder")
		}
		dir = parent
	}
}
