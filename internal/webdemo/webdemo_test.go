package webdemo

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHandler(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" app="+r.Header.Get("app_id"))
	}))
	defer api.Close()
	reg := prometheus.NewRegistry()
	h := Handler(Config{AppID: "demo", WSPath: "/ws", Hint: "user1"}, strings.TrimPrefix(api.URL, "http://"), slog.New(slog.DiscardHandler), reg)
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(path string, hdr map[string]string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		for k, v := range hdr {
			req.Header[k] = []string{v}
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	tests := []struct {
		path     string
		code     int
		contains string
	}{
		{"/demo/", 200, "<title>chatgate demo</title>"},
		{"/demo/app.js", 200, "ChatClient"},
		{"/demo/chatgate-client.min.js", 200, "chatgate"},
		{"/demo/style.css", 200, "body"},
		{"/demo/nope.js", 404, ""},
		{"/demo/../go.mod", 404, ""},
		{"/demo/api/message/unread?x=1", 200, "GET /message/unread?x=1 app=demo"},
	}
	for _, tt := range tests {
		code, body, hdr := get(tt.path, map[string]string{"app_id": "demo"})
		if code != tt.code || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s = %d %.80q, want %d containing %q", tt.path, code, body, tt.code, tt.contains)
		}
		if code == 200 && !strings.HasPrefix(tt.path, "/demo/api/") && hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff header", tt.path)
		}
	}
	code, body, _ := get("/demo/config.json", nil)
	var cfg Config
	if code != 200 || json.Unmarshal([]byte(body), &cfg) != nil || cfg.AppID != "demo" || cfg.WSPath != "/ws" {
		t.Fatalf("config.json = %d %s", code, body)
	}
	// Only GET serves files; the API proxy passes every method.
	res, err := http.Post(srv.URL+"/demo/index.html", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /demo/index.html = %d", res.StatusCode)
	}
	if got := counter(t, reg, "chatgate_webdemo_requests_total", "api"); got != 1 {
		t.Fatalf("requests_total{kind=api} = %v", got)
	}
	if got := counter(t, reg, "chatgate_webdemo_requests_total", "file"); got < 5 {
		t.Fatalf("requests_total{kind=file} = %v", got)
	}
	// The REST API gone: 502, counted.
	api.Close()
	if code, _, _ := get("/demo/api/message/unread", nil); code != http.StatusBadGateway {
		t.Fatalf("proxy to a closed API = %d", code)
	}
	if got := counter(t, reg, "chatgate_webdemo_api_failures_total", ""); got != 1 {
		t.Fatalf("api_failures_total = %v", got)
	}
}

// counter reads a counter from reg: the series with label value label, or
// the only series when label is "".
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
