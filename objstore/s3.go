package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config configures the S3-compatible backend.
type S3Config struct {
	// Endpoint is the store's URL, e.g. https://s3.eu-west-1.amazonaws.com
	// or http://minio:9000; its scheme decides TLS.
	Endpoint string
	Region   string
	Bucket   string
	// Prefix is put before "<app>/<key>" in object names, so that one
	// bucket can serve several deployments.
	Prefix string
	// PathStyle asks for http://host/bucket/key URLs instead of
	// http://bucket.host/key (MinIO, Ceph and most self-hosted stores).
	PathStyle       bool
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// S3 is the S3-compatible backend, through minio-go (SigV4 presigned URLs
// and POST policies, which every S3 dialect of note accepts).
type S3 struct {
	cfg S3Config
	c   *minio.Client
	now func() time.Time
}

// NewS3 builds the backend; it does not contact the store.
func NewS3(cfg S3Config) (*S3, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("objstore: s3: endpoint %q must be an http(s) URL", cfg.Endpoint)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("objstore: s3: bucket is required")
	}
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken),
		Secure:       u.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: s3: %w", err)
	}
	cfg.Prefix = strings.Trim(cfg.Prefix, "/")
	return &S3{cfg: cfg, c: c, now: time.Now}, nil
}

// Client is the minio-go client (tests make buckets with it).
func (s *S3) Client() *minio.Client { return s.c }

func (s *S3) name(o Object) string {
	if s.cfg.Prefix == "" {
		return o.App + "/" + o.Key
	}
	return s.cfg.Prefix + "/" + o.App + "/" + o.Key
}

func (s *S3) ttl(exp time.Time) (time.Duration, error) {
	d := exp.Sub(s.now()).Round(time.Second)
	if d < time.Second || d > 7*24*time.Hour {
		return 0, fmt.Errorf("objstore: s3: URL lifetime %v outside 1s..7d", d)
	}
	return d, nil
}

// Upload returns a POST policy: a multipart form upload that the store
// itself refuses when the file is over c.MaxBytes (content-length-range),
// of another Content-Type than c.ContentType, to another key, or late.
func (s *S3) Upload(ctx context.Context, o Object, c Conditions) (*Upload, error) {
	if err := check(o); err != nil {
		return nil, err
	}
	if c.MaxBytes <= 0 {
		return nil, errors.New("objstore: s3: an upload needs a size limit")
	}
	p := minio.NewPostPolicy()
	errs := []error{p.SetBucket(s.cfg.Bucket), p.SetKey(s.name(o)), p.SetExpires(c.Expires.UTC()),
		p.SetContentLengthRange(0, c.MaxBytes)}
	if c.ContentType != "" {
		errs = append(errs, p.SetContentType(c.ContentType))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("objstore: s3: policy: %w", err)
	}
	u, form, err := s.c.PresignedPostPolicy(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("objstore: s3: %w", err)
	}
	return &Upload{URL: u.String(), Method: http.MethodPost, Fields: form}, nil
}

// DownloadURL returns a presigned GET.
func (s *S3) DownloadURL(ctx context.Context, o Object, exp time.Time) (string, error) {
	if err := check(o); err != nil {
		return "", err
	}
	d, err := s.ttl(exp)
	if err != nil {
		return "", err
	}
	u, err := s.c.PresignedGetObject(ctx, s.cfg.Bucket, s.name(o), d, nil)
	if err != nil {
		return "", fmt.Errorf("objstore: s3: %w", err)
	}
	return u.String(), nil
}

// Stat describes o.
func (s *S3) Stat(ctx context.Context, o Object) (Info, error) {
	if err := check(o); err != nil {
		return Info{}, err
	}
	st, err := s.c.StatObject(ctx, s.cfg.Bucket, s.name(o), minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s3err(err)
	}
	return Info{Size: st.Size, ContentType: st.ContentType, Modified: st.LastModified}, nil
}

// Open streams o.
func (s *S3) Open(ctx context.Context, o Object) (io.ReadCloser, Info, error) {
	info, err := s.Stat(ctx, o)
	if err != nil {
		return nil, Info{}, err
	}
	obj, err := s.c.GetObject(ctx, s.cfg.Bucket, s.name(o), minio.GetObjectOptions{})
	if err != nil {
		return nil, Info{}, s3err(err)
	}
	return obj, info, nil
}

// Put streams r into o.
func (s *S3) Put(ctx context.Context, o Object, r io.Reader, size int64, contentType string) error {
	if err := check(o); err != nil {
		return err
	}
	_, err := s.c.PutObject(ctx, s.cfg.Bucket, s.name(o), r, size, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("objstore: s3: put %s: %w", o, err)
	}
	return nil
}

// Copy asks the store to copy src to dst; no bytes pass through chatgate.
func (s *S3) Copy(ctx context.Context, src, dst Object) error {
	if err := check(src); err != nil {
		return err
	}
	if err := check(dst); err != nil {
		return err
	}
	_, err := s.c.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.cfg.Bucket, Object: s.name(dst)},
		minio.CopySrcOptions{Bucket: s.cfg.Bucket, Object: s.name(src)})
	if err != nil {
		return s3err(err)
	}
	return nil
}

// Delete removes o.
func (s *S3) Delete(ctx context.Context, o Object) error {
	if err := check(o); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.cfg.Bucket, s.name(o), minio.RemoveObjectOptions{}); err != nil {
		if errors.Is(s3err(err), ErrNotFound) {
			return nil
		}
		return fmt.Errorf("objstore: s3: delete %s: %w", o, err)
	}
	return nil
}

func s3err(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NotFound":
		return ErrNotFound
	}
	return fmt.Errorf("objstore: s3: %w", err)
}
