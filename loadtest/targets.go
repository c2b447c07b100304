package loadtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckTargets refuses every target, and the Redis address, that is not on
// loopback unless allowRemote is set. Host names other than "localhost" are
// refused without resolving them: what a name resolves to can change
// between the check and the dial.
func CheckTargets(c Config) error {
	var errs []error
	for _, t := range c.Targets {
		for _, raw := range []string{t.WS, t.Metrics} {
			if raw == "" {
				continue
			}
			if err := checkURL(raw, c.AllowRemote); err != nil {
				errs = append(errs, fmt.Errorf("target %s: %w", t.Name, err))
			}
		}
	}
	if c.API != "" {
		if err := checkURL(c.API, c.AllowRemote); err != nil {
			errs = append(errs, fmt.Errorf("REST API: %w", err))
		}
	}
	if c.Redis != "" {
		host, _, err := net.SplitHostPort(c.Redis)
		if err != nil {
			errs = append(errs, fmt.Errorf("redis address %q: %w", c.Redis, err))
		} else if !c.AllowRemote && !IsLoopbackHost(host) {
			errs = append(errs, fmt.Errorf("redis %s is not on loopback; pass -allow-remote to load a remote deployment", c.Redis))
		}
	}
	return errors.Join(errs...)
}

func checkURL(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return fmt.Errorf("URL %q: scheme must be ws, wss, http or https", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("URL %q has no host", raw)
	}
	if !allowRemote && !IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%s is not on loopback (127.0.0.0/8, ::1, localhost); pass -allow-remote to load a remote deployment", u.Host)
	}
	return nil
}

// IsLoopbackHost reports whether host (no port; IPv6 without brackets) is
// localhost or a loopback address.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	// Zones (fe80::1%lo) are never loopback; ParseIP rejects them anyway.
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
