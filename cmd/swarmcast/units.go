package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseSize reads a byte count like "16384", "256KiB", "1MiB", "8MB" or
// "512k". Decimal units (kB, MB, GB) are powers of 1000, binary units (KiB,
// MiB, GiB, and the bare letters k, m, g) powers of 1024.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KiB, MiB, GiB, kB, MB or GB)", s, unit)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q is not a number of bytes", s)
	}
	return int64(f * mult), nil
}
