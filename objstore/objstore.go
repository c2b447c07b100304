// Package objstore owns where chatgate keeps files: one small interface,
// Backend, with two implementations.
//
//   - Local keeps objects in a directory and lets clients upload and
//     download through chatgate's own HTTP listener (Local.Handler) with
//     HMAC-signed, expiring URLs. It is the default and what the embedded
//     mode uses.
//   - S3 keeps objects in any S3-compatible store (AWS S3, MinIO, Ceph,
//     Aliyun OSS, Tencent COS, ...) and hands out presigned URLs, so file
//     bytes never pass through chatgate.
//
// Either way a client asks the REST API for an upload (Backend.Upload),
// sends the bytes straight to the URL it got, and later fetches them with a
// short-lived Backend.DownloadURL. The server side (thumbnails, forwarding,
// lifecycle) streams through Open, Put, Copy and Delete; no method holds a
// whole object in memory.
//
// Objects are addressed by (app, key): an app's objects live under their own
// prefix, and a key is a few '/'-separated segments of [A-Za-z0-9_-]
// (ValidKey), so no key can name anything outside its app.
package objstore

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/chatgate/chatgate/protocol"
)

// Object names one stored object of one app.
type Object struct {
	App string
	Key string
}

func (o Object) String() string { return o.App + "/" + o.Key }

// Conditions bound an upload.
type Conditions struct {
	// MaxBytes is the largest body the upload accepts (> 0).
	MaxBytes int64
	// ContentType, when set, is the Content-Type the upload must declare
	// (S3 POST policies enforce it; the local backend records none).
	ContentType string
	// Expires is when the upload URL stops working.
	Expires time.Time
}

// Upload tells a client how to send one object to storage.
type Upload struct {
	// URL is where the bytes go.
	URL string
	// Method is PUT (the body is the file) or POST (a multipart form of
	// Fields followed by the file in a part named "file").
	Method string
	// Fields are the form fields of a POST upload (Lanying's
	// oss_body_param); empty for PUT.
	Fields map[string]string
}

// Info describes a stored object.
type Info struct {
	Size        int64
	ContentType string
	Modified    time.Time
}

// Backend stores objects. Implementations are safe for concurrent use.
type Backend interface {
	// Upload returns how a client uploads o directly to storage within c.
	Upload(ctx context.Context, o Object, c Conditions) (*Upload, error)
	// DownloadURL returns a URL that GETs o until exp, without other
	// credentials.
	DownloadURL(ctx context.Context, o Object, exp time.Time) (string, error)
	// Stat describes o; ErrNotFound when it does not exist.
	Stat(ctx context.Context, o Object) (Info, error)
	// Open streams o; the caller closes the reader.
	Open(ctx context.Context, o Object) (io.ReadCloser, Info, error)
	// Put stores size bytes of r as o (server-made objects: thumbnails).
	Put(ctx context.Context, o Object, r io.Reader, size int64, contentType string) error
	// Copy stores a copy of src as dst (forwarded files) without reading
	// it through this process where the store can copy by itself.
	Copy(ctx context.Context, src, dst Object) error
	// Delete removes o; deleting a missing object is not an error.
	Delete(ctx context.Context, o Object) error
}

// Errors of the backends.
var (
	ErrNotFound = errors.New("objstore: object not found")
	ErrBadKey   = errors.New("objstore: malformed object key")
	ErrTooLarge = errors.New("objstore: object over the size limit")
	ErrQuota    = errors.New("objstore: app storage quota exceeded")
)

// Key limits: a few short segments, so that a key is a safe relative path
// on every file system and a safe object name in every S3 dialect.
const (
	maxKeyBytes    = 200
	maxKeySegments = 8
)

// ValidKey reports whether key is a well-formed object key: 1 to 8
// segments of [A-Za-z0-9_-], joined by '/', at most 200 bytes. Nothing
// else ('.', '..', empty segments, leading '/', '\') is accepted, so a key
// can never step out of its app's directory or prefix.
func ValidKey(key string) bool {
	if key == "" || len(key) > maxKeyBytes {
		return false
	}
	segs := strings.Split(key, "/")
	if len(segs) > maxKeySegments {
		return false
	}
	for _, s := range segs {
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

func check(o Object) error {
	if !protocol.ValidAppID(o.App) || !ValidKey(o.Key) {
		return ErrBadKey
	}
	return nil
}
