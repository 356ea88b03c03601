package torrent

import (
	"context"
	"sync"
	"time"
)

// rateLimiter is a token bucket shared by every connection of a client.
// A nil *rateLimiter never waits.
type rateLimiter struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
}

// rateBurst is how many seconds of traffic a limiter lets through at once:
// enough to send whole blocks, small enough to keep the rate smooth.
const rateBurst = 0.25

func newRateLimiter(bytesPerSec int64) *rateLimiter {
	if bytesPerSec <= 0 {
		return nil
	}
	burst := max(float64(bytesPerSec)*rateBurst, 2*BlockSize)
	return &rateLimiter{rate: float64(bytesPerSec), burst: burst, tokens: burst, last: time.Now()}
}

// wait blocks until n bytes may pass, or ctx ends.
func (l *rateLimiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	deficit := -l.tokens
	l.mu.Unlock()
	if deficit <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(deficit / l.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetRateLimits sets the client's payload rate limits, in bytes per
// second over all its torrents (Config.DownloadRate and Config.UploadRate
// at start); zero or less means no limit. Safe from any goroutine; it
// applies to the next block sent or received.
func (c *Client) SetRateLimits(download, upload int64) {
	c.dnLimit.Store(newRateLimiter(download))
	c.upLimit.Store(newRateLimiter(upload))
}

// RateLimits returns the client's limits (0: none).
func (c *Client) RateLimits() (download, upload int64) {
	return c.dnLimit.Load().bytesPerSecond(), c.upLimit.Load().bytesPerSecond()
}

// SetRateLimits limits this torrent's payload rates, in bytes per second,
// within the client's limits (Config.DownloadRate, Config.UploadRate);
// zero or less means no limit of its own. Safe from any goroutine; it
// applies to the next block sent or received.
func (t *Torrent) SetRateLimits(download, upload int64) {
	t.dnLimit.Store(newRateLimiter(download))
	t.upLimit.Store(newRateLimiter(upload))
}

// RateLimits returns the limits SetRateLimits set (0: none).
func (t *Torrent) RateLimits() (download, upload int64) {
	return t.dnLimit.Load().bytesPerSecond(), t.upLimit.Load().bytesPerSecond()
}

func (l *rateLimiter) bytesPerSecond() int64 {
	if l == nil {
		return 0
	}
	return int64(l.rate)
}
