package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/chatgate/chatgate/internal/s3test"
	"github.com/chatgate/chatgate/objstore"
	"github.com/chatgate/chatgate/objstore/upload"
)

// newS3 starts a real S3-compatible server (versitygw) and returns the
// backend on a fresh bucket of it.
func newS3(t *testing.T) *objstore.S3 {
	t.Helper()
	srv := s3test.Start(t)
	b, err := objstore.NewS3(objstore.S3Config{
		Endpoint: srv.Endpoint, Region: srv.Region, Bucket: "chatgate-test", Prefix: "deploy1", PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Client().MakeBucket(ctx, "chatgate-test", minio.MakeBucketOptions{Region: srv.Region}); err != nil {
		t.Fatal(err)
	}
	return b
}

func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestS3PresignedRoundTrip(t *testing.T) {
	b := newS3(t)
	ctx := context.Background()
	o := objstore.Object{App: "app1", Key: "c/roundtrip"}
	data := bytes.Repeat([]byte("chatgate "), 50_000) // 450 kB
	up, err := b.Upload(ctx, o, objstore.Conditions{MaxBytes: 1 << 20, Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if up.Method != http.MethodPost || up.Fields["policy"] == "" {
		t.Fatalf("upload %+v", up)
	}
	if _, err := upload.Send(ctx, nil, upload.Target{URL: up.URL, Method: up.Method, Fields: up.Fields},
		bytes.NewReader(data), int64(len(data)), "a.txt", ""); err != nil {
		t.Fatal(err)
	}
	u, err := b.DownloadURL(ctx, o, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if st, got := get(t, u); st != 200 || !bytes.Equal(got, data) {
		t.Fatalf("download: %d, %d bytes", st, len(got))
	}
	// A tampered presigned URL is refused by the store.
	if st, _ := get(t, u[:len(u)-4]+"0000"); st != http.StatusForbidden {
		t.Fatalf("tampered: %d", st)
	}

	// Server-side operations.
	info, err := b.Stat(ctx, o)
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("stat %+v %v", info, err)
	}
	dst := objstore.Object{App: "app1", Key: "c/copied"}
	if err := b.Copy(ctx, o, dst); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, objstore.Object{App: "app1", Key: "t/thumb"}, bytes.NewReader([]byte("png")), 3, "image/png"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, o); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	if err := b.Delete(ctx, o); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	rc, _, err := b.Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("copy differs")
	}
	// Another app's key under the same bucket is another object.
	if _, err := b.Stat(ctx, objstore.Object{App: "app2", Key: "c/copied"}); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("other app sees it: %v", err)
	}
}

func TestS3SizeCondition(t *testing.T) {
	b := newS3(t)
	ctx := context.Background()
	o := objstore.Object{App: "app1", Key: "c/limited"}
	up, err := b.Upload(ctx, o, objstore.Conditions{MaxBytes: 1000, Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	tgt := upload.Target{URL: up.URL, Method: up.Method, Fields: up.Fields}
	_, err = upload.Send(ctx, nil, tgt, bytes.NewReader(make([]byte, 1001)), 1001, "big", "")
	var ue *upload.Error
	if !errors.As(err, &ue) || ue.Status/100 != 4 {
		t.Fatalf("oversize upload: %v", err)
	}
	if _, err := b.Stat(ctx, o); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("oversize upload stored: %v", err)
	}
	if _, err := upload.Send(ctx, nil, tgt, bytes.NewReader(make([]byte, 1000)), 1000, "ok", ""); err != nil {
		t.Fatalf("upload at the limit: %v", err)
	}
	// The policy names the key: the same form cannot write another one.
	other := map[string]string{}
	for k, v := range up.Fields {
		other[k] = v
	}
	other["key"] = "deploy1/app2/c/limited"
	if _, err := upload.Send(ctx, nil, upload.Target{URL: up.URL, Method: up.Method, Fields: other},
		bytes.NewReader([]byte("x")), 1, "x", ""); err == nil {
		t.Fatal("policy accepted another key")
	}
}

func TestS3Expiry(t *testing.T) {
	b := newS3(t)
	ctx := context.Background()
	o := objstore.Object{App: "app1", Key: "c/expiring"}
	if err := b.Put(ctx, o, bytes.NewReader([]byte("hello")), 5, "text/plain"); err != nil {
		t.Fatal(err)
	}
	// An upload policy that expired is refused.
	up, err := b.Upload(ctx, objstore.Object{App: "app1", Key: "c/late"}, objstore.Conditions{MaxBytes: 100, Expires: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := upload.Send(ctx, nil, upload.Target{URL: up.URL, Method: up.Method, Fields: up.Fields},
		bytes.NewReader([]byte("x")), 1, "x", ""); err == nil {
		t.Fatal("expired policy accepted")
	}
	// A presigned GET works until it expires, then is refused.
	signed := time.Now()
	u, err := b.DownloadURL(ctx, o, signed.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st, body := get(t, u); st != 200 && time.Since(signed) < 2*time.Second {
		t.Fatalf("fresh URL: %d %s", st, body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, _ := get(t, u)
		if st == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("URL still answers %d a minute after its expiry", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if time.Since(signed) < 2*time.Second {
		t.Fatalf("URL refused after %v, before its 3 s expiry", time.Since(signed))
	}
}
