package objstore

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Codes of the local object endpoint's answers ({"code", "message"}, as the
// REST API answers). docs/api/files.md lists them with their HTTP statuses.
const (
	CodeOK           = 200
	CodeBadKey       = 10002 // HTTP 400: malformed app or key (e.g. "../")
	CodeStorage      = 10009 // HTTP 500: Lanying's "oss exception": the disk failed
	CodeTooLarge     = 40013 // HTTP 413: body over the URL's size limit
	CodeBadSignature = 40301 // HTTP 403: signature missing, malformed or not matching
	CodeExpired      = 40302 // HTTP 403: the URL's expiry passed
	CodeWrongMethod  = 40305 // HTTP 405: the URL was signed for another method
	CodeNoObject     = 40410 // HTTP 404: no such object
	CodeQuota        = 40507 // HTTP 507: the app's storage quota is used up
)

// handlerMetrics counts the local endpoint's requests and bytes.
type handlerMetrics struct {
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
}

// Handler serves the signed URLs of l under prefix (e.g. "/files"): PUT
// stores the body as the object, GET and HEAD return it (with Range
// support). reg nil registers no metrics. Bodies are streamed to disk and files from it; nothing is
// held in memory whole.
func (l *Local) Handler(prefix string, reg prometheus.Registerer) (http.Handler, error) {
	m := &handlerMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatgate_files_local_requests_total",
			Help: "Requests to the local object endpoint by method and answer code.",
		}, []string{"method", "code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatgate_files_local_bytes_total",
			Help: "Bytes stored (PUT) by the local object endpoint.",
		}, []string{"method"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.bytes} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	prefix = strings.TrimRight(prefix, "/") + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := l.serve(w, r, prefix, m)
		m.requests.WithLabelValues(methodLabel(r.Method), strconv.Itoa(code)).Inc()
	}), nil
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut:
		return m
	}
	return "other"
}

func (l *Local) serve(w http.ResponseWriter, r *http.Request, prefix string, m *handlerMetrics) int {
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	app, key, ok2 := strings.Cut(rest, "/")
	o := Object{App: app, Key: key}
	if !ok || !ok2 || check(o) != nil {
		return answer(w, http.StatusBadRequest, CodeBadKey, "malformed object path")
	}
	q := r.URL.Query()
	method := q.Get("m")
	want := r.Method
	if want == http.MethodHead {
		want = http.MethodGet
	}
	if method != http.MethodGet && method != http.MethodPut {
		return answer(w, http.StatusForbidden, CodeBadSignature, "not a signed object URL")
	}
	if method != want {
		w.Header().Set("Allow", method)
		return answer(w, http.StatusMethodNotAllowed, CodeWrongMethod, "this URL is signed for "+method)
	}
	var max int64
	if v := q.Get("max"); v != "" || method == http.MethodPut {
		if max, ok = parseInt64(v); !ok || (method == http.MethodPut && max == 0) {
			return answer(w, http.StatusForbidden, CodeBadSignature, "malformed size limit")
		}
	}
	exp, ok := parseInt64(q.Get("exp"))
	if !ok {
		return answer(w, http.StatusForbidden, CodeBadSignature, "malformed expiry")
	}
	k, err := l.cfg.Keys(r.Context(), app)
	// An unknown app answers like a bad signature: the endpoint does not
	// tell which apps exist.
	if err != nil || !verified(k, q.Get("sig"), method, o, max, exp) {
		return answer(w, http.StatusForbidden, CodeBadSignature, "signature does not match")
	}
	if l.now().Unix() > exp {
		return answer(w, http.StatusForbidden, CodeExpired, "URL expired")
	}
	rc := http.NewResponseController(w)
	deadline := l.now().Add(l.cfg.TransferTimeout)
	if method == http.MethodPut {
		_ = rc.SetReadDeadline(deadline)
		return l.receive(w, r, o, max, m)
	}
	_ = rc.SetWriteDeadline(deadline)
	return l.send(w, r, o)
}

func (l *Local) receive(w http.ResponseWriter, r *http.Request, o Object, max int64, m *handlerMetrics) int {
	if r.ContentLength > max {
		return answer(w, http.StatusRequestEntityTooLarge, CodeTooLarge, "body over "+strconv.FormatInt(max, 10)+" bytes")
	}
	// Book what the body may grow to: its declared length, else the limit.
	book := r.ContentLength
	if book < 0 {
		book = max
	}
	if err := l.reserve(o.App, book); err != nil {
		if errors.Is(err, ErrQuota) {
			return answer(w, http.StatusInsufficientStorage, CodeQuota, "the app's storage quota is used up")
		}
		return answer(w, http.StatusInternalServerError, CodeStorage, "storage error")
	}
	n, err := l.write(o, r.Body, max, book)
	switch {
	case errors.Is(err, ErrTooLarge):
		return answer(w, http.StatusRequestEntityTooLarge, CodeTooLarge, "body over "+strconv.FormatInt(max, 10)+" bytes")
	case err != nil:
		return answer(w, http.StatusInternalServerError, CodeStorage, "storage error")
	}
	m.bytes.WithLabelValues(http.MethodPut).Add(float64(n))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	b, _ := json.Marshal(map[string]any{"code": CodeOK, "data": map[string]int64{"size": n}})
	w.Write(b)
	return CodeOK
}

func (l *Local) send(w http.ResponseWriter, r *http.Request, o Object) int {
	f, err := l.root.Open(objPath(o))
	if err != nil {
		return answer(w, http.StatusNotFound, CodeNoObject, "no such object")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return answer(w, http.StatusNotFound, CodeNoObject, "no such object")
	}
	h := w.Header()
	// Uploaded bytes are served from chatgate's own origin: never let a
	// browser run them as a page of it.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	h.Set("Cache-Control", "private, max-age=300")
	http.ServeContent(w, r, "", fi.ModTime(), f)
	return CodeOK
}

func answer(w http.ResponseWriter, status, code int, msg string) int {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	w.Write(b)
	return code
}
