package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatgate/chatgate/files"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/objstore"
	"github.com/chatgate/chatgate/store"
)

// filesPath is where the gateway listener serves the local backend's
// signed URLs.
const filesPath = "/files"

// fileParts are the pieces of file storage one process runs.
type fileParts struct {
	svc *files.Service
	// handler serves the local backend's URLs on the gateway listener;
	// nil with the S3 backend.
	handler http.Handler
	close   func()
}

// openFiles builds the storage backend and the files service. gwAddr and
// adminAddr are the bound listeners (empty without the role), from which
// the public URLs default.
func openFiles(cfg config.Config, st *store.Store, embedded bool, gwAddr, adminAddr string, reg prometheus.Registerer, log *slog.Logger) (*fileParts, error) {
	fc := cfg.Files
	parts := &fileParts{close: func() {}}
	var backend objstore.Backend
	switch fc.Backend {
	case "s3":
		s3c := fc.S3
		s3c.AccessKeyID = firstNonEmpty(s3c.AccessKeyID, os.Getenv("AWS_ACCESS_KEY_ID"))
		s3c.SecretAccessKey = firstNonEmpty(s3c.SecretAccessKey, os.Getenv("AWS_SECRET_ACCESS_KEY"))
		s3c.SessionToken = firstNonEmpty(s3c.SessionToken, os.Getenv("AWS_SESSION_TOKEN"))
		b, err := objstore.NewS3(objstore.S3Config{
			Endpoint: s3c.Endpoint, Region: s3c.Region, Bucket: s3c.Bucket, Prefix: s3c.Prefix, PathStyle: s3c.PathStyle,
			AccessKeyID: s3c.AccessKeyID, SecretAccessKey: s3c.SecretAccessKey, SessionToken: s3c.SessionToken,
		})
		if err != nil {
			return nil, fmt.Errorf("server: files: %w", err)
		}
		backend = b
	default:
		dir := fc.Dir
		switch {
		case dir == "" && embedded:
			// The embedded mode forgets everything at exit; its files go
			// with it.
			tmp, err := os.MkdirTemp("", "chatgate-files-")
			if err != nil {
				return nil, fmt.Errorf("server: files: %w", err)
			}
			dir = tmp
			parts.close = func() { os.RemoveAll(tmp) }
		case dir == "":
			dir = filepath.Join(os.TempDir(), "chatgate-files")
			log.Warn("files.dir is not set: uploaded files are kept in a temporary directory; set files.dir (or files.backend: s3) in production", "dir", dir)
		}
		public := fc.PublicURL
		if public == "" {
			if gwAddr == "" {
				log.Warn("files.public_url is not set and this process has no gateway listener: local upload URLs will not be reachable")
			}
			public = httpURL(gwAddr)
		}
		l, err := objstore.NewLocal(objstore.LocalConfig{
			Dir: dir, BaseURL: public + filesPath, Quota: fc.QuotaBytes, TransferTimeout: fc.TransferTimeout,
			Keys: newAppKeys(st, cfg.Admin.AppCacheTTL).get,
		})
		if err != nil {
			parts.close()
			return nil, fmt.Errorf("server: files: %w", err)
		}
		prev := parts.close
		parts.close = func() { l.Close(); prev() }
		h, err := l.Handler(filesPath, reg)
		if err != nil {
			parts.close()
			return nil, fmt.Errorf("server: files: %w", err)
		}
		parts.handler = h
		backend = l
		log.Info("file storage: local directory", "dir", dir, "url", public+filesPath)
	}
	api := fc.APIURL
	if api == "" {
		api = httpURL(adminAddr)
	}
	svc, err := files.New(fc, files.Deps{
		Backend: backend, Store: st, Groups: files.StoreGroups{Store: st, AdminsKey: store.GroupAdminsKey}, Log: log, Metrics: reg, APIURL: api,
	})
	if err != nil {
		parts.close()
		return nil, fmt.Errorf("server: files: %w", err)
	}
	parts.svc = svc
	return parts, nil
}

// referenced is the gateway's FileReferenced hook.
func (p *fileParts) referenced(ctx context.Context, app, url string) error {
	return p.svc.Referenced(ctx, app, url)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// httpURL turns a bound listener address into a URL clients on this
// machine can use: an unspecified host (":8080", "[::]:8080") becomes
// 127.0.0.1.
func httpURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// appKeys caches the keys that sign local object URLs (derived from each
// app's secret), so that a download costs no Redis round trip.
type appKeys struct {
	st  *store.Store
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]appKeyEntry
}

type appKeyEntry struct {
	key     []byte
	expires time.Time
}

func newAppKeys(st *store.Store, ttl time.Duration) *appKeys {
	return &appKeys{st: st, ttl: ttl, m: map[string]appKeyEntry{}}
}

func (k *appKeys) get(ctx context.Context, app string) ([]byte, error) {
	now := time.Now()
	k.mu.Lock()
	e, ok := k.m[app]
	k.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.key, nil
	}
	a, err := k.st.GetApp(ctx, app)
	if err != nil {
		return nil, err
	}
	key := objstore.AppKey(a.Secret)
	k.mu.Lock()
	if len(k.m) > 10_000 {
		clear(k.m)
	}
	k.m[app] = appKeyEntry{key: key, expires: now.Add(k.ttl)}
	k.mu.Unlock()
	return key, nil
}
