package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// WasmPackage is the browser engine's main package.
const WasmPackage = "github.com/swarmcast/swarmcast/cmd/swarmcast-wasm"

// BuildWasm builds the browser engine into out as scripts/build-wasm.sh does
// (GOOS=js GOARCH=wasm, -ldflags='-s -w' -trimpath), from the checkout at
// root, so that what tests load and measure is what a site serves.
func BuildWasm(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags=-s -w", "-trimpath", "-o", out, WasmPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", WasmPackage, err, b)
	}
	return nil
}
