package tracker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/swarmcast/swarmcast/metainfo"
)

// fakeClient is a Client that remembers which URL opened it.
type fakeClient struct{ url string }

func (f *fakeClient) Announce(context.Context, AnnounceRequest) (AnnounceResponse, error) {
	return AnnounceResponse{}, nil
}

func (f *fakeClient) Scrape(context.Context, []metainfo.Hash) (map[metainfo.Hash]ScrapeResult, error) {
	return nil, ErrScrapeUnsupported
}

func (f *fakeClient) Close() error { return nil }

func TestNew(t *testing.T) {
	opened := func(name string) NewFunc {
		return func(u string, cfg Config) (Client, error) {
			if cfg.UserAgent != "ua" {
				return nil, fmt.Errorf("config not passed on: %+v", cfg)
			}
			return &fakeClient{url: name + " " + u}, nil
		}
	}
	cfg := Config{
		UserAgent: "ua",
		Schemes:   Schemes{"http": opened("H"), "udp": opened("U"), "nil": nil},
	}
	tests := []struct {
		url     string
		want    string // fakeClient.url, when no error is expected
		wantErr error
		errText string
	}{
		{url: "http://t.example/announce", want: "H http://t.example/announce"},
		{url: "HTTP://t.example/announce", want: "H HTTP://t.example/announce"},
		{url: "udp://t.example:6969", want: "U udp://t.example:6969"},
		{url: "https://t.example/announce", wantErr: ErrUnsupportedScheme, errText: `"https"`},
		{url: "ws://t.example", wantErr: ErrUnsupportedScheme, errText: "not supported yet"},
		{url: "wss://t.example", wantErr: ErrUnsupportedScheme, errText: "not supported yet"},
		{url: "nil://t.example", wantErr: ErrUnsupportedScheme},
		{url: "t.example/announce", wantErr: ErrUnsupportedScheme, errText: "no scheme"},
		{url: "http://[::1", errText: "announce URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := New(tt.url, cfg)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if got := c.(*fakeClient).url; got != tt.want {
					t.Fatalf("opened %q, want %q", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("New succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q does not mention %q", err, tt.errText)
			}
		})
	}
}

func TestNewZeroConfig(t *testing.T) {
	_, err := New("http://t.example/announce", Config{})
	if !errors.Is(err, ErrUnsupportedScheme) {
		t.Fatalf("New with zero Config: %v, want ErrUnsupportedScheme", err)
	}
}

func TestEventString(t *testing.T) {
	for e, want := range map[Event]string{
		EventNone: "none", EventStarted: "started", EventCompleted: "completed", EventStopped: "stopped", 9: "Event(9)",
	} {
		if got := e.String(); got != want {
			t.Errorf("Event(%d).String() = %q, want %q", int32(e), got, want)
		}
	}
}

func TestFailureError(t *testing.T) {
	err := fmt.Errorf("announce: %w", &FailureError{Reason: "unregistered torrent"})
	var fe *FailureError
	if !errors.As(err, &fe) || fe.Reason != "unregistered torrent" {
		t.Fatalf("errors.As(%v) = %v", err, fe)
	}
	if !strings.Contains(err.Error(), "unregistered torrent") {
		t.Errorf("message %q lacks the reason", err)
	}
}
