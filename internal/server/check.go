package server

import "github.com/chatgate/chatgate/internal/config"

// Check judges cfg as RunWith does before it touches anything (the
// configuration's own rules plus the ones that depend on the roles), and
// returns the roles the process would run. `chatgate serve -check` and the
// deployment kit's tests use it to prove a configuration starts.
func Check(cfg config.Config) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rs, err := selectRoles(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkConfig(cfg, rs); err != nil {
		return nil, err
	}
	return rs.names(), nil
}
