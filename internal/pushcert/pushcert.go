// Package pushcert owns the rules that tie a device to one of its app's
// push certificates: the provider names, which platform each serves,
// Lanying's provider numbers, and how a device's notifier_name (the
// certificate name, any case, or empty) resolves to a certificate. The
// admin API, the gateway and the push worker all resolve through it, so a
// name accepted at bind time is the name the worker sends with.
package pushcert

import (
	"encoding/hex"
	"errors"
	"strings"
)

// Providers. Each is one push service chatgate sends through.
const (
	APNs   = "apns"
	FCM    = "fcm"
	Huawei = "huawei"
	Honor  = "honor"
	Xiaomi = "xiaomi"
	OPPO   = "oppo"
	Vivo   = "vivo"
	Meizu  = "meizu"
)

// Providers lists every provider, APNs first.
var Providers = []string{APNs, FCM, Huawei, Honor, Xiaomi, OPPO, Vivo, Meizu}

// Makers are the phone makers' providers (Android without Google services).
var Makers = []string{Huawei, Honor, Xiaomi, OPPO, Vivo, Meizu}

// Known reports whether p is a provider name.
func Known(p string) bool {
	for _, x := range Providers {
		if x == p {
			return true
		}
	}
	return false
}

// Channel is the /push/task/detail channel of a provider: Lanying calls
// Meizu's "flyme".
func Channel(provider string) string {
	if provider == Meizu {
		return "flyme"
	}
	return provider
}

// Number is Lanying's provider number of /push/certificate (1 APNs,
// 2 Huawei, 3 Xiaomi, 4 Meizu, 5 vivo, 6 OPPO, 7 FCM); Honor, which
// Lanying does not list, is chatgate's 8.
func Number(provider string) int {
	switch provider {
	case APNs:
		return 1
	case Huawei:
		return 2
	case Xiaomi:
		return 3
	case Meizu:
		return 4
	case Vivo:
		return 5
	case OPPO:
		return 6
	case FCM:
		return 7
	case Honor:
		return 8
	}
	return 0
}

// ByNumber is the provider of a Lanying provider number, "" if none.
func ByNumber(n int) string {
	for _, p := range Providers {
		if Number(p) == n {
			return p
		}
	}
	return ""
}

// Apple reports whether a provider serves Apple devices (platforms ios
// and mac); every other provider serves Android.
func Apple(provider string) bool { return provider == APNs }

// Cert is what resolution needs of a certificate.
type Cert struct {
	Name     string
	Provider string
	// Default marks the app's default certificate for its platform.
	Default bool
}

// ErrUnknown is a notifier name that names no certificate of the app.
var ErrUnknown = errors.New("pushcert: no push certificate of the app has this name")

// ErrNone is a device the app has no certificate for (an empty name on a
// platform the app configured nothing for).
var ErrNone = errors.New("pushcert: the app has no push certificate for this device")

// Platforms as the socket protocol numbers them.
const (
	platformIOS     = 1
	platformAndroid = 2
	platformMac     = 4
)

// legacy are the provider words chatgate accepted as notifier names before
// certificates had names; devices bound with them keep working.
var legacy = map[string]bool{"apns": true, "ios": true, "fcm": true, "android": true, "gcm": true}

// Resolve picks the certificate a device is sent with.
//
//   - A name matches a certificate name case-insensitively. The old
//     provider words ("apns", "ios", "fcm", "android", "gcm") that match no
//     certificate name mean the app's default APNs or Android certificate.
//     Anything else is ErrUnknown.
//   - An empty name means the app's default certificate for the device's
//     platform: ios and mac take the APNs default, android the Android
//     default. A device with no platform (bound through REST) takes the
//     APNs default when its token has the shape of an APNs device token
//     (hex digits, 64 or more), else the Android default.
//
// A platform's default is its certificate marked default, else its first
// one in configuration order; the Android default prefers FCM only by
// being listed first.
func Resolve(certs []Cert, name string, platform int, token string) (Cert, error) {
	if name != "" {
		for _, c := range certs {
			if strings.EqualFold(c.Name, name) {
				return c, nil
			}
		}
		low := strings.ToLower(name)
		if !legacy[low] {
			return Cert{}, ErrUnknown
		}
		if low == "apns" || low == "ios" {
			return platformDefault(certs, true)
		}
		if c, err := providerDefault(certs, FCM); err == nil {
			return c, nil
		}
		return platformDefault(certs, false)
	}
	switch platform {
	case platformIOS, platformMac:
		return platformDefault(certs, true)
	case platformAndroid:
		return platformDefault(certs, false)
	}
	if apnsToken(token) {
		if c, err := platformDefault(certs, true); err == nil {
			return c, nil
		}
	}
	return platformDefault(certs, false)
}

// Canonical is the bind-time check of a notifier name: the name as a
// device stores it — the certificate's own spelling, an old provider word
// in lower case, "" for the app's default (resolved when a push is sent,
// with the platform the device has then) — or ErrUnknown.
func Canonical(certs []Cert, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	for _, c := range certs {
		if strings.EqualFold(c.Name, name) {
			return c.Name, nil
		}
	}
	if low := strings.ToLower(name); legacy[low] {
		return low, nil
	}
	return "", ErrUnknown
}

func platformDefault(certs []Cert, apple bool) (Cert, error) {
	return pick(certs, func(c Cert) bool { return Apple(c.Provider) == apple })
}

func providerDefault(certs []Cert, provider string) (Cert, error) {
	return pick(certs, func(c Cert) bool { return c.Provider == provider })
}

// pick is the certificate marked default among those that match, else
// the first that matches.
func pick(certs []Cert, match func(Cert) bool) (Cert, error) {
	var first *Cert
	for i, c := range certs {
		if !match(c) {
			continue
		}
		if c.Default {
			return c, nil
		}
		if first == nil {
			first = &certs[i]
		}
	}
	if first == nil {
		return Cert{}, ErrNone
	}
	return *first, nil
}

// apnsToken: what Apple issues, an even number of hex digits, 64 today
// (at most 200 as Apple allows for).
func apnsToken(t string) bool {
	if len(t) < 64 || len(t) > 200 || len(t)%2 != 0 {
		return false
	}
	_, err := hex.DecodeString(t)
	return err == nil
}
