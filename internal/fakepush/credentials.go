package fakepush

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chatgate/chatgate/internal/config"
)

// WriteCredentials writes the fake's CA certificate (ca.pem), APNs signing
// key (apns.p8) and FCM service account (fcm.json) into dir, and push.yaml:
// the apps[].push snippet of an app that sends to this fake. push.yaml is
// written last, through a rename, so that whoever waits for it finds the
// other files complete. It returns the same configuration, for callers
// that build a config.Config in Go.
func (s *Server) WriteCredentials(dir string) (config.AppPush, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return config.AppPush{}, fmt.Errorf("fakepush: credentials dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return config.AppPush{}, fmt.Errorf("fakepush: credentials dir: %w", err)
	}
	ca, key, sa := filepath.Join(abs, "ca.pem"), filepath.Join(abs, "apns.p8"), filepath.Join(abs, "fcm.json")
	p := config.AppPush{
		APNs:         config.APNs{KeyFile: key, KeyID: s.KeyID(), TeamID: s.TeamID(), Topic: s.Topic(), Host: s.URL, CAFile: ca},
		FCM:          config.FCM{CredentialsFile: sa, Endpoint: s.URL + "/v1", CAFile: ca},
		Certificates: s.MakerCertificates(ca),
	}
	tmp := filepath.Join(abs, "push.yaml.tmp")
	snippet := "# apps[].push of an app that sends to this fake APNs, FCM and phone makers\npush: " + FlowYAML(p) + "\n"
	for _, w := range []struct {
		path string
		b    []byte
	}{{ca, s.CertPEM}, {key, s.APNsKeyPEM()}, {sa, s.ServiceAccountJSON()}, {tmp, []byte(snippet)}} {
		if err := os.WriteFile(w.path, w.b, 0o600); err != nil {
			return config.AppPush{}, fmt.Errorf("fakepush: %w", err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(abs, "push.yaml")); err != nil {
		return config.AppPush{}, fmt.Errorf("fakepush: %w", err)
	}
	return p, nil
}

// MakerCertificates are one certificate per phone maker, named after the
// provider, that send to this fake trusting caFile.
func (s *Server) MakerCertificates(caFile string) []config.PushCertificate {
	out := make([]config.PushCertificate, 0, len(Makers))
	for _, m := range Makers {
		c := s.Credentials(m)
		out = append(out, config.PushCertificate{Name: m, Provider: m, Production: true, AppID: c.AppID, AppKey: c.AppKey,
			AppSecret: c.AppSecret, MasterSecret: c.MasterSecret, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
			PackageName: c.PackageName, IMChannelID: "im", Endpoint: s.Endpoint(m), AuthEndpoint: s.AuthEndpoint(m), CAFile: caFile})
	}
	return out
}

// FlowYAML renders p's APNs and FCM blocks and certificates as one line of
// YAML flow style, for configuration files written by scripts and tests.
func FlowYAML(p config.AppPush) string {
	a, f := p.APNs, p.FCM
	var certs []string
	for _, c := range p.Certificates {
		certs = append(certs, fmt.Sprintf(`{name: %q, provider: %q, production: %t, app_id: %q, app_key: %q, app_secret: %q, master_secret: %q, client_id: %q, client_secret: %q, package_name: %q, im_channel_id: %q, endpoint: %q, auth_endpoint: %q, ca_file: %q}`,
			c.Name, c.Provider, c.Production, c.AppID, c.AppKey, c.AppSecret, c.MasterSecret, c.ClientID, c.ClientSecret, c.PackageName, c.IMChannelID, c.Endpoint, c.AuthEndpoint, c.CAFile))
	}
	return fmt.Sprintf(`{apns: {key_file: %q, key_id: %q, team_id: %q, topic: %q, host: %q, ca_file: %q}, fcm: {credentials_file: %q, endpoint: %q, ca_file: %q}, certificates: [%s]}`,
		a.KeyFile, a.KeyID, a.TeamID, a.Topic, a.Host, a.CAFile, f.CredentialsFile, f.Endpoint, f.CAFile, strings.Join(certs, ", "))
}
