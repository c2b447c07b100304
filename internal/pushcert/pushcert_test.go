package pushcert

import (
	"errors"
	"strings"
	"testing"
)

var certs = []Cert{
	{Name: "apns-dev", Provider: APNs},
	{Name: "APNs-Prod", Provider: APNs, Default: true},
	{Name: "firebase", Provider: FCM},
	{Name: "hms", Provider: Huawei, Default: true},
	{Name: "mi", Provider: Xiaomi},
}

func TestResolve(t *testing.T) {
	apnsTok := strings.Repeat("ab", 32)
	tests := []struct {
		name, notifier string
		platform       int
		token          string
		want           string
		err            error
	}{
		{"exact name", "mi", 2, "t", "mi", nil},
		{"other case", "apns-PROD", 0, "t", "APNs-Prod", nil},
		{"non-default by name", "APNS-DEV", 1, "t", "apns-dev", nil},
		{"empty ios", "", 1, "t", "APNs-Prod", nil},
		{"empty mac", "", 4, "t", "APNs-Prod", nil},
		{"empty android: the marked default", "", 2, "t", "hms", nil},
		{"empty, no platform, APNs-shaped token", "", 0, apnsTok, "APNs-Prod", nil},
		{"empty, no platform, other token", "", 0, "x:y", "hms", nil},
		{"legacy ios", "ios", 0, "t", "APNs-Prod", nil},
		{"legacy FCM upper case", "FCM", 0, "t", "firebase", nil},
		{"legacy gcm", "gcm", 0, "t", "firebase", nil},
		{"unknown", "nope", 2, "t", "", ErrUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Resolve(certs, tc.notifier, tc.platform, tc.token)
			if !errors.Is(err, tc.err) || c.Name != tc.want {
				t.Fatalf("Resolve = %q, %v; want %q, %v", c.Name, err, tc.want, tc.err)
			}
		})
	}
	if _, err := Resolve(certs[:2], "", 2, "t"); !errors.Is(err, ErrNone) {
		t.Fatalf("android device of an APNs-only app: %v", err)
	}
	if _, err := Resolve(nil, "android", 2, "t"); !errors.Is(err, ErrNone) {
		t.Fatalf("legacy word of an app without certificates: %v", err)
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{"": "", "apns-prod": "APNs-Prod", "HMS": "hms", "Android": "android"} {
		if got, err := Canonical(certs, in); err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Canonical(certs, "apns-prod2"); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown name: %v", err)
	}
}

func TestNumbers(t *testing.T) {
	for _, p := range Providers {
		if n := Number(p); n < 1 || n > 8 || ByNumber(n) != p {
			t.Errorf("%s: number %d", p, n)
		}
	}
	if ByNumber(9) != "" || Channel(Meizu) != "flyme" || Channel(Honor) != "honor" {
		t.Error("bad number or channel mapping")
	}
}

// FuzzResolve: any name, platform and token resolves to a certificate of
// the app or to one of the two errors, and Canonical agrees with Resolve
// about which names are unknown.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"", "mi", "APNS-prod", "ios", "GCM", "nope", "\x00", strings.Repeat("ab", 32)} {
		f.Add(s, 2, s)
	}
	f.Fuzz(func(t *testing.T, name string, platform int, token string) {
		c, err := Resolve(certs, name, platform, token)
		switch {
		case err == nil:
			found := false
			for _, x := range certs {
				found = found || x == c
			}
			if !found {
				t.Fatalf("resolved to %+v, not a certificate of the app", c)
			}
		case !errors.Is(err, ErrUnknown) && !errors.Is(err, ErrNone):
			t.Fatalf("unexpected error %v", err)
		}
		_, cerr := Canonical(certs, name)
		if errors.Is(err, ErrUnknown) != errors.Is(cerr, ErrUnknown) {
			t.Fatalf("Resolve %v but Canonical %v for %q", err, cerr, name)
		}
	})
}
