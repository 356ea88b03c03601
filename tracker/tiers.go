package tracker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
)

// ErrNoTrackers is returned by Tiers.Try when the announce list is empty.
var ErrNoTrackers = errors.New("tracker: announce list has no trackers")

// Tiers is a torrent's announce-list, worked through as BEP 12 says: each
// tier is shuffled once when the list is loaded; trackers are tried in order,
// tier after tier, until one answers; and a tracker that answered moves to
// the front of its tier, so the next announce tries it first.
//
// Tiers is safe for concurrent use.
type Tiers struct {
	mu    sync.Mutex
	tiers [][]string
}

// NewTiers returns the tiers of announceList (the "announce-list" of a
// torrent, or the single "announce" URL as one tier of one). Empty URLs and
// empty tiers are dropped, and a URL listed twice is kept only where it first
// appears. Each tier is shuffled, as BEP 12 asks.
func NewTiers(announceList [][]string) *Tiers {
	return newTiers(announceList, rand.Shuffle)
}

// newTiers is NewTiers with the shuffle supplied, so tests can fix the order.
func newTiers(announceList [][]string, shuffle func(n int, swap func(i, j int))) *Tiers {
	seen := make(map[string]bool)
	var tiers [][]string
	for _, tier := range announceList {
		var t []string
		for _, u := range tier {
			if u == "" || seen[u] {
				continue
			}
			seen[u] = true
			t = append(t, u)
		}
		if len(t) == 0 {
			continue
		}
		shuffle(len(t), func(i, j int) { t[i], t[j] = t[j], t[i] })
		tiers = append(tiers, t)
	}
	return &Tiers{tiers: tiers}
}

// List returns a copy of the tiers in their current order.
func (t *Tiers) List() [][]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([][]string, len(t.tiers))
	for i, tier := range t.tiers {
		out[i] = slices.Clone(tier)
	}
	return out
}

// Promote moves announceURL to the front of its tier, keeping the order of
// the others. It does nothing for a URL that is not in the list. Try calls it
// for the tracker that answered; callers with their own loop call it
// themselves.
func (t *Tiers) Promote(announceURL string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tier := range t.tiers {
		if i := slices.Index(tier, announceURL); i > 0 {
			copy(tier[1:i+1], tier[:i])
			tier[0] = announceURL
			return
		} else if i == 0 {
			return
		}
	}
}

// Try calls f for each tracker in order until one call returns nil, promotes
// that tracker and returns its URL. f decides what counts as an answer: a
// caller that treats a tracker's *FailureError as final can return nil for
// it. When every call fails Try returns all their errors joined; it stops
// early, with ctx's error, when ctx is done.
func (t *Tiers) Try(ctx context.Context, f func(ctx context.Context, announceURL string) error) (string, error) {
	var errs []error
	tried := 0
	for _, tier := range t.List() {
		for _, u := range tier {
			if err := ctx.Err(); err != nil {
				return "", errors.Join(append([]error{err}, errs...)...)
			}
			tried++
			err := f(ctx, u)
			if err == nil {
				t.Promote(u)
				return u, nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
		}
	}
	if tried == 0 {
		return "", ErrNoTrackers
	}
	return "", fmt.Errorf("tracker: all %d trackers failed: %w", tried, errors.Join(errs...))
}
