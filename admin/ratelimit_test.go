package admin

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/store"
)

// TestRateLimitPerApp drives the handler directly: an app over its bucket
// gets 40029 with Retry-After, before any work, and another app is not
// affected.
func TestRateLimitPerApp(t *testing.T) {
	st := store.New(redistest.Client(t), store.Options{})
	ctx := context.Background()
	for _, id := range []string{"busy", "calm"} {
		if err := st.PutApp(ctx, store.App{ID: id, Secret: "secret-of-at-least-16-bytes"}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default().Admin
	cfg.RateLimit, cfg.RateBurst = 0.001, 3
	s, err := New(cfg, Deps{Store: st, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	call := func(app string) (int, string) {
		var hc fasthttp.RequestCtx
		hc.Request.SetRequestURI("/user/settings")
		hc.Request.Header.SetMethod(fasthttp.MethodGet)
		hc.Request.Header.Set("app_id", app)
		s.Handler()(&hc)
		var env envelope
		if err := json.Unmarshal(hc.Response.Body(), &env); err != nil {
			t.Fatalf("not an envelope: %q", hc.Response.Body())
		}
		return env.Code, string(hc.Response.Header.Peek("Retry-After"))
	}
	// The first three pass the limiter (and fail later: no token).
	for i := 0; i < 3; i++ {
		if code, _ := call("busy"); code != CodeMissingToken {
			t.Fatalf("request %d: code %d, want %d", i, code, CodeMissingToken)
		}
	}
	code, retry := call("busy")
	if code != CodeRateLimited || retry == "" {
		t.Fatalf("over the limit: code %d Retry-After %q, want %d", code, retry, CodeRateLimited)
	}
	if code, _ := call("calm"); code != CodeMissingToken {
		t.Fatalf("another app was limited too: code %d", code)
	}
	// Unknown apps are refused before the limiter: they cannot fill it.
	if code, _ := call("nosuchapp"); code != CodeAppNotFound {
		t.Fatalf("unknown app: code %d", code)
	}
}
