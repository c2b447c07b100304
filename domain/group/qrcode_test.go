package group

import (
	"errors"
	"strings"
	"testing"
)

var qrSecret = []byte("secret-of-at-least-16-bytes")

func TestQRCodeRoundTrip(t *testing.T) {
	q := QRCode{Group: 2000000000001, Inviter: 1000000000002, Expires: 1765000000000}
	code := EncodeQRCode(qrSecret, "app", q)
	got, err := DecodeQRCode(qrSecret, "app", code)
	if err != nil || got != q {
		t.Fatalf("decode %q: %+v %v", code, got, err)
	}
	if len(code) > MaxQRCodeBytes {
		t.Fatalf("a code of 19-digit ids is %d bytes, over MaxQRCodeBytes", len(code))
	}
	flip := []byte(code)
	flip[len(flip)/2] ^= 1
	for name, c := range map[string]struct{ secret, app, code string }{
		"other app":    {string(qrSecret), "app2", code},
		"other secret": {"another-secret-of-16-bytes", "app", code},
		"altered":      {string(qrSecret), "app", string(flip)},
		"empty":        {string(qrSecret), "app", ""},
		"two parts":    {string(qrSecret), "app", "cgq1.abc"},
		"bad version":  {string(qrSecret), "app", "cgq2" + strings.TrimPrefix(code, "cgq1")},
		"oversize":     {string(qrSecret), "app", code + strings.Repeat("A", MaxQRCodeBytes)},
		"zero ids":     {string(qrSecret), "app", EncodeQRCode(qrSecret, "app", QRCode{})},
	} {
		_, err := DecodeQRCode([]byte(c.secret), c.app, c.code)
		var ge *Error
		if !errors.As(err, &ge) || ge.Kind != ErrQRCodeInvalid {
			t.Errorf("%s: %v, want ErrQRCodeInvalid", name, err)
		}
	}
}

// FuzzDecodeQRCode: any input decodes to a valid code or ErrQRCodeInvalid,
// never panics, and a decoded code re-encodes to the same string (one
// spelling per code).
func FuzzDecodeQRCode(f *testing.F) {
	f.Add(EncodeQRCode(qrSecret, "app", QRCode{Group: 1, Inviter: 2, Expires: 3}))
	f.Add("cgq1..")
	f.Add("cgq1.MTox.")
	f.Add("")
	f.Add("cgq1.OjE6Mg.AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		q, err := DecodeQRCode(qrSecret, "app", s)
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) || ge.Kind != ErrQRCodeInvalid {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if q.Group <= 0 || q.Inviter <= 0 || q.Expires <= 0 {
			t.Fatalf("%q decoded to %+v", s, q)
		}
		if again := EncodeQRCode(qrSecret, "app", q); again != s {
			t.Fatalf("%q decoded, but re-encodes to %q: a code has two spellings", s, again)
		}
	})
}
