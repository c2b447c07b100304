// Package webdemo serves the browser chat demo: a single-page app built on
// the JavaScript SDK (sdk/js), embedded in the binary, under /demo/ on the
// gateway listener. The page talks to the gateway's WebSocket on the same
// origin, and to the REST API through /demo/api/, a reverse proxy to this
// process's REST listener, so that the browser needs no CORS.
package webdemo

import (
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

//go:embed static
var files embed.FS

// Prefix is where the demo is served.
const Prefix = "/demo/"

// Config is what the page needs to know about this deployment; it is
// served as /demo/config.json.
type Config struct {
	// AppID is the app the page logs in to.
	AppID string `json:"app_id"`
	// WSPath is the gateway's WebSocket path on the same origin.
	WSPath string `json:"ws_path"`
	// Hint is shown on the login form (e.g. the embedded mode's dev users).
	Hint string `json:"hint,omitempty"`
}

// Handler serves the demo under Prefix. adminAddr is the host:port of
// this process's REST API. Its metrics are registered in reg:
// chatgate_webdemo_requests_total{kind="file|config|api"} and
// chatgate_webdemo_api_failures_total (the REST API did not answer).
func Handler(cfg Config, adminAddr string, log *slog.Logger, reg prometheus.Registerer) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatgate_webdemo_requests_total",
		Help: "Requests to the browser demo under /demo/, by kind: file (page, script, style), config, api (proxied to the REST API).",
	}, []string{"kind"})
	failures := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "chatgate_webdemo_api_failures_total",
		Help: "Demo REST calls the proxy could not pass to this process's REST API (answered 502).",
	})
	reg.MustRegister(requests, failures)
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	target := &url.URL{Scheme: "http", Host: adminAddr}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, Prefix+"api")
			r.Out.URL.RawPath = ""
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			failures.Inc()
			log.Warn("demo: REST API unreachable", "path", r.URL.Path, "err", err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		panic(err) // Config holds only strings
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix+"api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.WithLabelValues("api").Inc()
		proxy.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET "+Prefix+"config.json", func(w http.ResponseWriter, _ *http.Request) {
		requests.WithLabelValues("config").Inc()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(cfgJSON)
	})
	fileServer := http.StripPrefix(Prefix, http.FileServerFS(static))
	mux.Handle(Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		requests.WithLabelValues("file").Inc()
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'")
		fileServer.ServeHTTP(w, r)
	}))
	return mux
}
