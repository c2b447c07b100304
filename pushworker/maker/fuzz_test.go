package maker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatgate/chatgate/pushworker/maker"
)

// FuzzAnswers feeds every maker's client arbitrary send answers (status
// and body; the token endpoints answer properly): each client returns one
// well-formed result per token, whatever the maker says, and never
// panics.
func FuzzAnswers(f *testing.F) {
	for _, seed := range []struct {
		status int
		body   string
	}{
		{200, `{"code":"80000000","msg":"Success"}`},
		{200, `{"code":"80100000","msg":"{\"illegal_tokens\":[\"a\"]}"}`},
		{200, `{"code":200,"data":{"expireTokens":["a"],"failTokens":["b"]}}`},
		{200, `{"result":"ok","code":0,"data":{"bad_regids":"a,b"}}`},
		{200, `{"code":0,"data":[{"registrationId":"a","errorCode":10000}]}`},
		{200, `{"result":10302}`},
		{200, `{"code":"200","value":{"110003":["a"]}}`},
		{503, ``}, {429, `{}`}, {200, `not json`}, {200, `{"code":null,"data":[1,2]}`}, {401, `{"code":"80200003"}`},
	} {
		f.Add(seed.status, seed.body)
	}
	var status atomic.Int64
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/token"):
			_, _ = w.Write([]byte(`{"access_token":"t","expires_in":3600}`))
		case strings.HasSuffix(r.URL.Path, "/server/v1/auth"):
			_, _ = w.Write([]byte(`{"code":0,"data":{"auth_token":"t"}}`))
		case strings.HasSuffix(r.URL.Path, "/message/auth"):
			_, _ = w.Write([]byte(`{"result":0,"authToken":"t"}`))
		default:
			w.WriteHeader(int(status.Load()))
			_, _ = w.Write([]byte(body.Load().(string)))
		}
	}))
	defer srv.Close()
	var clients []maker.Client
	for _, p := range []string{"huawei", "honor", "xiaomi", "oppo", "vivo", "meizu"} {
		cl, err := maker.New(p, maker.Config{AppID: "1", AppKey: "k", AppSecret: "s", MasterSecret: "m", ClientID: "c", ClientSecret: "s",
			PackageName: "p", Endpoint: srv.URL, AuthEndpoint: srv.URL + "/token", Timeout: 5 * time.Second})
		if err != nil {
			f.Fatal(err)
		}
		clients = append(clients, cl)
	}
	f.Fuzz(func(t *testing.T, st int, b string) {
		if st < 200 || st > 599 {
			st = 200
		}
		status.Store(int64(st))
		body.Store(b)
		for _, cl := range clients {
			m := &maker.Message{Title: "t", Body: "b", PushMode: -1, Classification: -1, ID: "x"}
			enc, err := cl.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			toks := []string{"a", "b"}[:min(2, cl.MaxTokens())]
			res := cl.Send(context.Background(), enc, toks)
			if len(res) != len(toks) {
				t.Fatalf("%d results for %d tokens", len(res), len(toks))
			}
			for _, r := range res {
				if r.Kind < maker.OK || r.Kind > maker.Fail || (r.Kind != maker.OK && r.Reason == "") {
					t.Fatalf("result %+v", r)
				}
			}
		}
	})
}
