package objstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// KeySource returns the key that signs an app's URLs (AppKey of its
// secret); an error for an unknown app.
type KeySource func(ctx context.Context, app string) ([]byte, error)

// LocalConfig configures the local backend.
type LocalConfig struct {
	// Dir holds the objects: <Dir>/<app>/<key>. Created when missing.
	Dir string
	// BaseURL is the absolute URL Handler is reachable at from clients,
	// without a trailing slash, e.g. http://chat.example:8080/files.
	BaseURL string
	// Quota caps the bytes one app may store (uploads that would pass it
	// are refused); 0: no quota.
	Quota int64
	// TransferTimeout bounds one upload or download through Handler.
	TransferTimeout time.Duration
	// Keys signs and verifies the URLs.
	Keys KeySource
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Local is the filesystem backend. Every path it touches goes through an
// os.Root opened on Dir, so even a key that slipped past ValidKey could not
// leave the directory.
type Local struct {
	cfg  LocalConfig
	root *os.Root
	now  func() time.Time

	mu   sync.Mutex
	used map[string]int64 // app -> bytes stored and reserved, once counted
}

// tmpDir is where uploads are written before they are renamed into place;
// '.' cannot appear in a key, so no object can be named like it.
const tmpDir = ".tmp"

// NewLocal opens (creating it if needed) the directory of the objects.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if cfg.Dir == "" {
		return nil, errors.New("objstore: local: dir is required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("objstore: local: a key source is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TransferTimeout <= 0 {
		cfg.TransferTimeout = 10 * time.Minute
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("objstore: local: %w", err)
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: local: %w", err)
	}
	return &Local{cfg: cfg, root: root, now: cfg.Now, used: map[string]int64{}}, nil
}

// Close releases the directory.
func (l *Local) Close() error { return l.root.Close() }

// SetBaseURL sets where Handler is reachable, for a listener whose
// address is known only once it is bound.
func (l *Local) SetBaseURL(u string) { l.cfg.BaseURL = strings.TrimRight(u, "/") }

func objPath(o Object) string { return o.App + "/" + o.Key }

// Upload returns a signed PUT URL of o.
func (l *Local) Upload(ctx context.Context, o Object, c Conditions) (*Upload, error) {
	if err := check(o); err != nil {
		return nil, err
	}
	if c.MaxBytes <= 0 {
		return nil, errors.New("objstore: local: an upload needs a size limit")
	}
	k, err := l.cfg.Keys(ctx, o.App)
	if err != nil {
		return nil, err
	}
	return &Upload{URL: signedURL(l.cfg.BaseURL, k, http.MethodPut, o, c.MaxBytes, c.Expires.Unix()), Method: http.MethodPut}, nil
}

// DownloadURL returns a signed GET URL of o.
func (l *Local) DownloadURL(ctx context.Context, o Object, exp time.Time) (string, error) {
	if err := check(o); err != nil {
		return "", err
	}
	k, err := l.cfg.Keys(ctx, o.App)
	if err != nil {
		return "", err
	}
	return signedURL(l.cfg.BaseURL, k, http.MethodGet, o, 0, exp.Unix()), nil
}

// Stat describes o.
func (l *Local) Stat(_ context.Context, o Object) (Info, error) {
	if err := check(o); err != nil {
		return Info{}, err
	}
	fi, err := l.root.Stat(objPath(o))
	if err != nil {
		return Info{}, notFound(err)
	}
	return Info{Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// Open streams o.
func (l *Local) Open(_ context.Context, o Object) (io.ReadCloser, Info, error) {
	if err := check(o); err != nil {
		return nil, Info{}, err
	}
	f, err := l.root.Open(objPath(o))
	if err != nil {
		return nil, Info{}, notFound(err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, ErrNotFound
	}
	return f, Info{Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// Put stores r as o. Server-made objects count towards the quota but are
// never refused by it: they are derived from objects already admitted.
func (l *Local) Put(_ context.Context, o Object, r io.Reader, size int64, _ string) error {
	if err := check(o); err != nil {
		return err
	}
	_, err := l.write(o, r, -1, 0)
	return err
}

// Copy hard-links src to dst: instant, no bytes copied, and deleting one
// leaves the other intact. It falls back to a streamed copy where links
// are not possible.
func (l *Local) Copy(ctx context.Context, src, dst Object) error {
	if err := check(src); err != nil {
		return err
	}
	if err := check(dst); err != nil {
		return err
	}
	fi, err := l.root.Stat(objPath(src))
	if err != nil {
		return notFound(err)
	}
	if err := l.root.MkdirAll(path.Dir(objPath(dst)), 0o750); err != nil {
		return fmt.Errorf("objstore: local: %w", err)
	}
	if err := l.root.Link(objPath(src), objPath(dst)); err == nil {
		l.account(dst.App, fi.Size())
		return nil
	}
	f, _, err := l.Open(ctx, src)
	if err != nil {
		return err
	}
	defer f.Close()
	return l.Put(ctx, dst, f, fi.Size(), "")
}

// Delete removes o.
func (l *Local) Delete(_ context.Context, o Object) error {
	if err := check(o); err != nil {
		return err
	}
	fi, err := l.root.Stat(objPath(o))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("objstore: local: %w", err)
	}
	if err := l.root.Remove(objPath(o)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore: local: %w", err)
	}
	l.account(o.App, -fi.Size())
	return nil
}

// Used returns the bytes app stores (and has reserved for uploads in
// flight), counting its directory the first time.
func (l *Local) Used(app string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usedLocked(app)
}

func (l *Local) usedLocked(app string) (int64, error) {
	if n, ok := l.used[app]; ok {
		return n, nil
	}
	var n int64
	err := fs.WalkDir(l.root.FS(), app, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && d.Name() == tmpDir {
			return fs.SkipDir
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("objstore: local: count %s: %w", app, err)
	}
	l.used[app] = n
	return n, nil
}

// reserve books n bytes of app's quota for an upload in flight.
func (l *Local) reserve(app string, n int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	used, err := l.usedLocked(app)
	if err != nil {
		return err
	}
	if l.cfg.Quota > 0 && used+n > l.cfg.Quota {
		return ErrQuota
	}
	l.used[app] = used + n
	return nil
}

func (l *Local) account(app string, delta int64) {
	l.mu.Lock()
	if n, ok := l.used[app]; ok {
		l.used[app] = n + delta
	}
	l.mu.Unlock()
}

// write streams r into o: into a temporary file of the app first, synced,
// then renamed over o, so that a reader sees the old object or the whole
// new one and a failed or refused upload leaves nothing behind. max > 0
// refuses a body over max bytes (ErrTooLarge); reserved is what the caller
// booked for it, given back once the real size is accounted.
func (l *Local) write(o Object, r io.Reader, max, reserved int64) (int64, error) {
	defer l.account(o.App, -reserved)
	tmpRel := o.App + "/" + tmpDir
	if err := l.root.MkdirAll(tmpRel, 0o750); err != nil {
		return 0, fmt.Errorf("objstore: local: %w", err)
	}
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	tmp := tmpRel + "/" + hex.EncodeToString(rnd[:])
	f, err := l.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return 0, fmt.Errorf("objstore: local: %w", err)
	}
	fail := func(err error) (int64, error) {
		f.Close()
		_ = l.root.Remove(tmp)
		return 0, err
	}
	src := r
	if max > 0 {
		src = io.LimitReader(r, max+1)
	}
	n, err := io.Copy(f, src)
	switch {
	case err != nil:
		return fail(fmt.Errorf("objstore: local: receive %s: %w", o, err))
	case max > 0 && n > max:
		return fail(ErrTooLarge)
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("objstore: local: %w", err))
	}
	if err := f.Close(); err != nil {
		_ = l.root.Remove(tmp)
		return 0, fmt.Errorf("objstore: local: %w", err)
	}
	final := objPath(o)
	if err := l.root.MkdirAll(path.Dir(final), 0o750); err != nil {
		_ = l.root.Remove(tmp)
		return 0, fmt.Errorf("objstore: local: %w", err)
	}
	var old int64
	if fi, err := l.root.Stat(final); err == nil {
		old = fi.Size()
	}
	if err := l.root.Rename(tmp, final); err != nil {
		_ = l.root.Remove(tmp)
		return 0, fmt.Errorf("objstore: local: %w", err)
	}
	l.account(o.App, n-old)
	return n, nil
}

// SweepTemp removes temporary upload files older than age: the leftovers
// of a process killed in the middle of an upload.
func (l *Local) SweepTemp(age time.Duration) (int, error) {
	apps, err := fs.ReadDir(l.root.FS(), ".")
	if err != nil {
		return 0, fmt.Errorf("objstore: local: %w", err)
	}
	cutoff := l.now().Add(-age)
	removed := 0
	for _, a := range apps {
		if !a.IsDir() {
			continue
		}
		dir := a.Name() + "/" + tmpDir
		ents, err := fs.ReadDir(l.root.FS(), dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil || fi.ModTime().After(cutoff) {
				continue
			}
			if l.root.Remove(dir+"/"+e.Name()) == nil {
				removed++
			}
		}
	}
	return removed, nil
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return fmt.Errorf("objstore: local: %w", err)
}

// parseInt64 reads a non-negative decimal query value.
func parseInt64(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}
