package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type localEnv struct {
	l   *Local
	srv *httptest.Server
	dir string
	now time.Time
}

func newLocalEnv(t *testing.T, quota int64) *localEnv {
	t.Helper()
	e := &localEnv{dir: t.TempDir(), now: time.Unix(1_800_000_000, 0)}
	keys := map[string][]byte{"app1": AppKey("secret-1"), "app2": AppKey("secret-2")}
	l, err := NewLocal(LocalConfig{
		Dir: e.dir, Quota: quota, Now: func() time.Time { return e.now },
		Keys: func(_ context.Context, app string) ([]byte, error) {
			if k, ok := keys[app]; ok {
				return k, nil
			}
			return nil, errors.New("no such app")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := l.Handler("/files", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(func() { e.srv.Close(); l.Close() })
	l.SetBaseURL(e.srv.URL + "/files")
	e.l = l
	return e
}

func (e *localEnv) uploadURL(t *testing.T, o Object, max int64) string {
	t.Helper()
	up, err := e.l.Upload(context.Background(), o, Conditions{MaxBytes: max, Expires: e.now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if up.Method != http.MethodPut {
		t.Fatalf("method %s", up.Method)
	}
	return up.URL
}

type reply struct {
	status int
	Code   int    `json:"code"`
	Msg    string `json:"message"`
	body   []byte
}

func do(t *testing.T, method, u string, body []byte) reply {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := reply{status: resp.StatusCode, body: b}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestLocalRoundTrip(t *testing.T) {
	e := newLocalEnv(t, 0)
	o := Object{App: "app1", Key: "c/abc123"}
	data := randomBytes(300_000)
	if r := do(t, http.MethodPut, e.uploadURL(t, o, 1<<20), data); r.status != 200 || r.Code != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	get, err := e.l.DownloadURL(context.Background(), o, e.now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, http.MethodGet, get, nil)
	if r.status != 200 || !bytes.Equal(r.body, data) {
		t.Fatalf("download: %d, %d bytes, equal %v", r.status, len(r.body), bytes.Equal(r.body, data))
	}
	// A range, as players and resumed downloads ask.
	req, _ := http.NewRequest(http.MethodGet, get, nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, data[10:20]) {
		t.Fatalf("range: %d %x", resp.StatusCode, part)
	}
	if n, _ := e.l.Used("app1"); n != int64(len(data)) {
		t.Fatalf("used %d", n)
	}
	// Server-side copy and delete.
	dst := Object{App: "app1", Key: "c/copy1"}
	if err := e.l.Copy(context.Background(), o, dst); err != nil {
		t.Fatal(err)
	}
	if err := e.l.Delete(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := e.l.Stat(context.Background(), o); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat deleted: %v", err)
	}
	rc, info, err := e.l.Open(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if info.Size != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatal("copy differs")
	}
}

func TestLocalRefusals(t *testing.T) {
	e := newLocalEnv(t, 0)
	o := Object{App: "app1", Key: "c/target"}
	good := e.uploadURL(t, o, 100)
	other := e.uploadURL(t, Object{App: "app2", Key: "c/target"}, 100)
	tamper := func(u string, fn func(q url.Values)) string {
		p, _ := url.Parse(u)
		q := p.Query()
		fn(q)
		p.RawQuery = q.Encode()
		return p.String()
	}
	e2 := *e
	e2.now = e.now.Add(-2 * time.Minute) // signed long ago: expired by now
	expired := e2.uploadURL(t, o, 100)
	otherAppPath := strings.Replace(other, "/files/app2/", "/files/app1/", 1)

	cases := []struct {
		name   string
		method string
		url    string
		body   []byte
		status int
		code   int
	}{
		{"tampered signature", "PUT", tamper(good, func(q url.Values) { q.Set("sig", "AAAA"+q.Get("sig")[4:]) }), []byte("x"), 403, CodeBadSignature},
		{"missing signature", "PUT", tamper(good, func(q url.Values) { q.Del("sig") }), []byte("x"), 403, CodeBadSignature},
		{"raised size limit", "PUT", tamper(good, func(q url.Values) { q.Set("max", "1000000") }), []byte("x"), 403, CodeBadSignature},
		{"later expiry", "PUT", tamper(good, func(q url.Values) { q.Set("exp", "9999999999") }), []byte("x"), 403, CodeBadSignature},
		{"method swapped in query", "GET", tamper(good, func(q url.Values) { q.Set("m", "GET") }), nil, 403, CodeBadSignature},
		{"expired", "PUT", expired, []byte("x"), 403, CodeExpired},
		{"wrong method", "GET", good, nil, 405, CodeWrongMethod},
		{"POST to a PUT URL", "POST", good, []byte("x"), 405, CodeWrongMethod},
		{"oversize body", "PUT", good, randomBytes(101), 413, CodeTooLarge},
		{"another app's URL on this app's object", "PUT", otherAppPath, []byte("x"), 403, CodeBadSignature},
		{"another key", "PUT", strings.Replace(good, "/c/target", "/c/other", 1), []byte("x"), 403, CodeBadSignature},
		{"dot-dot key", "PUT", strings.Replace(good, "/c/target", "/c/../../etc/passwd", 1), []byte("x"), 400, CodeBadKey},
		{"encoded dot-dot", "PUT", strings.Replace(good, "/c/target", "/c/%2e%2e/%2e%2e/x", 1), []byte("x"), 400, CodeBadKey},
		{"dot segment app", "PUT", strings.Replace(good, "/files/app1/", "/files/../", 1), []byte("x"), 400, CodeBadKey},
		{"unknown app", "PUT", strings.Replace(good, "/files/app1/", "/files/app9/", 1), []byte("x"), 403, CodeBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, c.method, c.url, c.body)
			// Go's client cleans some paths itself; a cleaned path is
			// another object, which the signature then refuses.
			if r.status != c.status || r.Code != c.code {
				if !(c.code == CodeBadKey && r.Code == CodeBadSignature) {
					t.Fatalf("got HTTP %d code %d (%s), want %d %d", r.status, r.Code, r.body, c.status, c.code)
				}
			}
		})
	}
	// Nothing of any refused request reached the disk: no object, no
	// temporary file, nothing outside the directory.
	var files []string
	filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("refused uploads wrote %v", files)
	}
	if n, _ := e.l.Used("app1"); n != 0 {
		t.Fatalf("refused uploads left %d bytes booked", n)
	}
	// The good URL still works, and a GET of a missing object is a 404.
	if r := do(t, "PUT", good, []byte("ok")); r.status != 200 {
		t.Fatalf("good upload: %d %s", r.status, r.body)
	}
	miss, _ := e.l.DownloadURL(context.Background(), Object{App: "app1", Key: "c/none"}, e.now.Add(time.Minute))
	if r := do(t, "GET", miss, nil); r.status != 404 || r.Code != CodeNoObject {
		t.Fatalf("missing: %d %s", r.status, r.body)
	}
}

func TestLocalChunkedOversize(t *testing.T) {
	e := newLocalEnv(t, 0)
	u := e.uploadURL(t, Object{App: "app1", Key: "c/chunked"}, 1000)
	// No Content-Length: the limit is found while streaming.
	req, _ := http.NewRequest(http.MethodPut, u, io.MultiReader(bytes.NewReader(randomBytes(900)), bytes.NewReader(randomBytes(900))))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := e.l.Stat(context.Background(), Object{App: "app1", Key: "c/chunked"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("oversize chunked upload stored: %v", err)
	}
}

func TestLocalQuota(t *testing.T) {
	e := newLocalEnv(t, 1000)
	if r := do(t, "PUT", e.uploadURL(t, Object{App: "app1", Key: "a/one"}, 1000), randomBytes(600)); r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r := do(t, "PUT", e.uploadURL(t, Object{App: "app1", Key: "a/two"}, 1000), randomBytes(600))
	if r.status != http.StatusInsufficientStorage || r.Code != CodeQuota {
		t.Fatalf("over quota: %d %s", r.status, r.body)
	}
	// Another app has its own quota.
	if r := do(t, "PUT", e.uploadURL(t, Object{App: "app2", Key: "a/two"}, 1000), randomBytes(600)); r.status != 200 {
		t.Fatalf("other app: %d %s", r.status, r.body)
	}
	// Deleting frees the quota.
	if err := e.l.Delete(context.Background(), Object{App: "app1", Key: "a/one"}); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "PUT", e.uploadURL(t, Object{App: "app1", Key: "a/two"}, 1000), randomBytes(600)); r.status != 200 {
		t.Fatalf("after delete: %d %s", r.status, r.body)
	}
	// A fresh process counts what is on disk.
	l2, err := NewLocal(LocalConfig{Dir: e.dir, Keys: e.l.cfg.Keys})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if n, _ := l2.Used("app1"); n != 600 {
		t.Fatalf("recounted %d", n)
	}
}

func TestLocalSweepTemp(t *testing.T) {
	e := newLocalEnv(t, 0)
	if err := os.MkdirAll(filepath.Join(e.dir, "app1", tmpDir), 0o750); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(e.dir, "app1", tmpDir, "dead")
	if err := os.WriteFile(p, []byte("half"), 0o640); err != nil {
		t.Fatal(err)
	}
	old := e.now.Add(-2 * time.Hour)
	os.Chtimes(p, old, old)
	if n, err := e.l.SweepTemp(time.Hour); err != nil || n != 1 {
		t.Fatalf("swept %d %v", n, err)
	}
}

func TestValidKey(t *testing.T) {
	for k, want := range map[string]bool{
		"c/abc": true, "a/u/12/x_y-z": true, "": false, "/c": false, "c/": false, "c//d": false,
		"..": false, "c/../d": false, "c/./d": false, `c\d`: false, "c/d.png": false,
		strings.Repeat("a/", 8) + "a": false, strings.Repeat("x", 201): false,
	} {
		if ValidKey(k) != want {
			t.Errorf("ValidKey(%q) = %v", k, !want)
		}
	}
}
