package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// isTerminal reports whether w is a character device, so that a live bar
// makes sense there.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws a one-line bar on a terminal, at most every redraw.
type progressBar struct {
	w      io.Writer
	label  string
	start  time.Time
	last   time.Time
	redraw time.Duration
}

// barRedraw is how often the bar is redrawn: often enough to look live,
// rarely enough to cost nothing.
const barRedraw = 100 * time.Millisecond

func newProgressBar(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, label: label, start: time.Now(), redraw: barRedraw}
}

func (p *progressBar) update(done, total int64) {
	now := time.Now()
	if done < total && now.Sub(p.last) < p.redraw {
		return
	}
	p.last = now
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	const width = 30
	filled := int(frac * width)
	rate := float64(done) / max(now.Sub(p.start).Seconds(), 1e-9)
	fmt.Fprintf(p.w, "\r%s [%s%s] %5.1f%% %s/s ", p.label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, formatBytes(int64(rate)))
	if done >= total {
		fmt.Fprintln(p.w)
	}
}

// formatBytes writes n with a binary unit, as "1.5 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
