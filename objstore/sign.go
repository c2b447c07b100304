package objstore

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
)

// A signed local URL is
//
//	<base>/<app>/<key>?m=<METHOD>&max=<bytes>&exp=<unix seconds>&sig=<mac>
//
// where mac = base64url(HMAC-SHA256(app key, "chatgate-files-v1\n" METHOD
// "\n" app "\n" key "\n" max "\n" exp)). Every part a client could change
// to reach something else (another app, another object, another method, a
// larger body, a later expiry) is inside the MAC; m is also in the query
// only so that a URL used with the wrong method gets its own answer.

// signature is the MAC of one URL's parts.
func signature(appKey []byte, method, app, key string, max, exp int64) []byte {
	m := hmac.New(sha256.New, appKey)
	m.Write([]byte("chatgate-files-v1\n"))
	m.Write([]byte(method))
	m.Write([]byte{'\n'})
	m.Write([]byte(app))
	m.Write([]byte{'\n'})
	m.Write([]byte(key))
	m.Write([]byte{'\n'})
	m.Write(strconv.AppendInt(nil, max, 10))
	m.Write([]byte{'\n'})
	m.Write(strconv.AppendInt(nil, exp, 10))
	return m.Sum(nil)
}

// signedURL builds the URL of one operation on o.
func signedURL(base string, appKey []byte, method string, o Object, max, exp int64) string {
	q := url.Values{}
	q.Set("m", method)
	if max > 0 {
		q.Set("max", strconv.FormatInt(max, 10))
	}
	q.Set("exp", strconv.FormatInt(exp, 10))
	q.Set("sig", base64.RawURLEncoding.EncodeToString(signature(appKey, method, o.App, o.Key, max, exp)))
	return base + "/" + o.App + "/" + o.Key + "?" + q.Encode()
}

// verified checks a presented signature in constant time.
func verified(appKey []byte, sig, method string, o Object, max, exp int64) bool {
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, signature(appKey, method, o.App, o.Key, max, exp))
}

// AppKey derives the key that signs an app's local URLs from the app's
// secret, so that one app's secret can never sign for another app and a
// rotated secret retires every URL made with the old one.
func AppKey(appSecret string) []byte {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte("chatgate local object URLs v1"))
	return m.Sum(nil)
}
