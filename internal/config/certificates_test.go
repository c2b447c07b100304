package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPushworkerExample: the commented push block of
// configs/pushworker.yaml, which shows every provider, is a valid
// configuration.
func TestPushworkerExample(t *testing.T) {
	b, err := os.ReadFile("../../configs/pushworker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Uncomment "    # push:" and the lines under it.
	s := regexp.MustCompile(`(?m)^    # (push:|  .*)$`).ReplaceAllString(string(b), "    $1")
	p := filepath.Join(t.TempDir(), "pw.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	certs := c.Apps[0].Push.AllCertificates()
	seen := map[string]bool{}
	for _, x := range certs {
		seen[x.Provider] = true
	}
	if len(seen) != 8 {
		t.Fatalf("the example shows %d providers, want all 8: %v", len(seen), seen)
	}
}

func TestCertificateValidation(t *testing.T) {
	base := func(certs ...PushCertificate) error {
		c := Default()
		c.Apps = []App{{ID: "a", Secret: strings.Repeat("s", 16), Push: AppPush{Certificates: certs}}}
		return c.Validate()
	}
	hw := PushCertificate{Name: "hw", Provider: "huawei", AppID: "1", AppSecret: "s"}
	if err := base(hw, PushCertificate{Name: "mi", Provider: "xiaomi", AppSecret: "s", PackageName: "p"}); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for _, tc := range []struct {
		name  string
		certs []PushCertificate
		want  string
	}{
		{"no name", []PushCertificate{{Provider: "huawei", AppID: "1", AppSecret: "s"}}, "name must be"},
		{"name too long", []PushCertificate{{Name: strings.Repeat("n", 65), Provider: "huawei", AppID: "1", AppSecret: "s"}}, "name must be"},
		{"same name other case", []PushCertificate{hw, {Name: "HW", Provider: "huawei", AppID: "1", AppSecret: "s"}}, "used twice"},
		{"unknown provider", []PushCertificate{{Name: "n", Provider: "nokia"}}, "provider must be"},
		{"missing secret", []PushCertificate{{Name: "o", Provider: "oppo", AppKey: "k"}}, "master_secret is required"},
		{"honor without client", []PushCertificate{{Name: "h", Provider: "honor", AppID: "1"}}, "client_id is required"},
		{"apns without topic", []PushCertificate{{Name: "a", Provider: "apns", KeyFile: "k", KeyID: "i", TeamID: "t"}}, "topic is required"},
		{"two android defaults", []PushCertificate{{Name: "m", Provider: "meizu", AppID: "1", AppSecret: "s", Default: true},
			{Name: "v", Provider: "vivo", AppID: "1", AppKey: "k", AppSecret: "s", Default: true}}, "already the default"},
		{"negative qps", []PushCertificate{{Name: "m", Provider: "meizu", AppID: "1", AppSecret: "s", QPS: -1}}, "qps"},
	} {
		if err := base(tc.certs...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
