package fakepush

import (
	"fmt"
	"os"
	"path/filepath"

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
		APNs: config.APNs{KeyFile: key, KeyID: s.KeyID(), TeamID: s.TeamID(), Topic: s.Topic(), Host: s.URL, CAFile: ca},
		FCM:  config.FCM{CredentialsFile: sa, Endpoint: s.URL + "/v1", CAFile: ca},
	}
	tmp := filepath.Join(abs, "push.yaml.tmp")
	snippet := "# apps[].push of an app that sends to this fake APNs/FCM\npush: " + FlowYAML(p) + "\n"
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

// FlowYAML renders the APNs and FCM parts of p as one line of YAML flow
// style, for configuration files written by scripts and tests.
func FlowYAML(p config.AppPush) string {
	a, f := p.APNs, p.FCM
	return fmt.Sprintf(`{apns: {key_file: %q, key_id: %q, team_id: %q, topic: %q, host: %q, ca_file: %q}, fcm: {credentials_file: %q, endpoint: %q, ca_file: %q}}`,
		a.KeyFile, a.KeyID, a.TeamID, a.Topic, a.Host, a.CAFile, f.CredentialsFile, f.Endpoint, f.CAFile)
}
