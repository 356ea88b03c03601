package tracker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// noShuffle keeps the announce list's order, so tests can predict it.
func noShuffle(int, func(i, j int)) {}

func TestTiersTry(t *testing.T) {
	list := [][]string{{"a1", "a2", "a3"}, {}, {"b1", "", "a2", "b2"}}
	tests := []struct {
		name      string
		up        map[string]bool // trackers that answer
		wantURL   string
		wantTried []string
		wantList  [][]string
		wantErr   bool
	}{
		{
			name: "first answers", up: map[string]bool{"a1": true}, wantURL: "a1",
			wantTried: []string{"a1"},
			wantList:  [][]string{{"a1", "a2", "a3"}, {"b1", "b2"}},
		},
		{
			name: "third of first tier moves to front", up: map[string]bool{"a3": true}, wantURL: "a3",
			wantTried: []string{"a1", "a2", "a3"},
			wantList:  [][]string{{"a3", "a1", "a2"}, {"b1", "b2"}},
		},
		{
			name: "second tier", up: map[string]bool{"b2": true}, wantURL: "b2",
			wantTried: []string{"a1", "a2", "a3", "b1", "b2"},
			wantList:  [][]string{{"a1", "a2", "a3"}, {"b2", "b1"}},
		},
		{
			name: "none answers", up: nil, wantErr: true,
			wantTried: []string{"a1", "a2", "a3", "b1", "b2"},
			wantList:  [][]string{{"a1", "a2", "a3"}, {"b1", "b2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tiers := newTiers(list, noShuffle)
			var tried []string
			got, err := tiers.Try(context.Background(), func(_ context.Context, u string) error {
				tried = append(tried, u)
				if tt.up[u] {
					return nil
				}
				return fmt.Errorf("%s is down", u)
			})
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "b2 is down") {
					t.Fatalf("err = %v, want every tracker's error", err)
				}
			} else if err != nil || got != tt.wantURL {
				t.Fatalf("Try = %q, %v; want %q", got, err, tt.wantURL)
			}
			if !slices.Equal(tried, tt.wantTried) {
				t.Errorf("tried %v, want %v", tried, tt.wantTried)
			}
			if l := tiers.List(); !reflect.DeepEqual(l, tt.wantList) {
				t.Errorf("list after Try = %v, want %v", l, tt.wantList)
			}
		})
	}
}

func TestTiersPromoteSticks(t *testing.T) {
	tiers := newTiers([][]string{{"a", "b", "c"}}, noShuffle)
	tiers.Promote("c")
	tiers.Promote("b")
	tiers.Promote("nope")
	if got, want := tiers.List(), [][]string{{"b", "c", "a"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
}

func TestTiersEmpty(t *testing.T) {
	_, err := NewTiers([][]string{{}, {""}}).Try(context.Background(), func(context.Context, string) error { return nil })
	if !errors.Is(err, ErrNoTrackers) {
		t.Fatalf("err = %v, want ErrNoTrackers", err)
	}
}

func TestTiersContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tiers := newTiers([][]string{{"a", "b"}}, noShuffle)
	var tried []string
	_, err := tiers.Try(ctx, func(_ context.Context, u string) error {
		tried = append(tried, u)
		cancel()
		return errors.New("down")
	})
	if !errors.Is(err, context.Canceled) || len(tried) != 1 {
		t.Fatalf("err = %v after trying %v; want context.Canceled after one", err, tried)
	}
}

func TestNewTiersShuffles(t *testing.T) {
	tier := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	moved := false
	for range 10 {
		got := NewTiers([][]string{tier}).List()[0]
		if !slices.Equal(slices.Sorted(slices.Values(got)), tier) {
			t.Fatalf("shuffle lost or added trackers: %v", got)
		}
		moved = moved || !slices.Equal(got, tier)
	}
	if !moved {
		t.Fatal("ten shuffles of ten trackers all kept the order")
	}
}
