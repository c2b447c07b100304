package group

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// QR-code invitations. A code is "cgq1.<payload>.<mac>": payload is
// base64url("<group>:<inviter>:<expires ms>") and mac base64url of
// HMAC-SHA256 over "cgq1|<app>|<payload>" with the app's secret, so a code
// names its group and signer, cannot be altered or used in another app,
// and stops working when it expires or when the app's secret rotates.

const (
	qrVersion = "cgq1"
	// MaxQRCodeBytes bounds what DecodeQRCode reads.
	MaxQRCodeBytes = 256
)

// b64 decodes strictly, so that a code has one spelling only.
var b64 = base64.RawURLEncoding.Strict()

// QRCode is a decoded, verified QR-code invitation.
type QRCode struct {
	Group, Inviter, Expires int64
}

func qrMAC(secret []byte, app, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(qrVersion + "|" + app + "|" + payload))
	return m.Sum(nil)
}

// EncodeQRCode signs q for app.
func EncodeQRCode(secret []byte, app string, q QRCode) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(
		strconv.FormatInt(q.Group, 10) + ":" + strconv.FormatInt(q.Inviter, 10) + ":" + strconv.FormatInt(q.Expires, 10)))
	return qrVersion + "." + payload + "." + base64.RawURLEncoding.EncodeToString(qrMAC(secret, app, payload))
}

// DecodeQRCode verifies and decodes a code of app (expiry is the
// caller's check). Anything malformed or not signed by app is
// ErrQRCodeInvalid.
func DecodeQRCode(secret []byte, app, s string) (QRCode, error) {
	bad := refuse(ErrQRCodeInvalid, "qr_info is not a QR code of this app")
	if len(s) > MaxQRCodeBytes {
		return QRCode{}, bad
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != qrVersion {
		return QRCode{}, bad
	}
	// Each part must be the one spelling of its bytes: the decoder skips
	// line breaks and ignores trailing bits, and a code with two spellings
	// could be redeemed twice where codes are compared as strings.
	mac, err := b64.DecodeString(parts[2])
	if err != nil || b64.EncodeToString(mac) != parts[2] || !hmac.Equal(mac, qrMAC(secret, app, parts[1])) {
		return QRCode{}, bad
	}
	raw, err := b64.DecodeString(parts[1])
	if err != nil || b64.EncodeToString(raw) != parts[1] {
		return QRCode{}, bad
	}
	f := strings.Split(string(raw), ":")
	if len(f) != 3 {
		return QRCode{}, bad
	}
	var n [3]int64
	for i, v := range f {
		if n[i], err = strconv.ParseInt(v, 10, 64); err != nil || n[i] <= 0 {
			return QRCode{}, bad
		}
	}
	return QRCode{Group: n[0], Inviter: n[1], Expires: n[2]}, nil
}

// SignQRCode returns a QR code inviting into gid, signed for the actor
// (who must be able to invite), valid for the app's QRCodeTTL.
func (s *Service) SignQRCode(ctx context.Context, app string, secret []byte, a Actor, gid int64) (code string, created, expires int64, err error) {
	if a.Backend() {
		return "", 0, 0, refuse(ErrBadInput, "user_id: header required: a QR code is signed by a member")
	}
	st, err := s.load(ctx, app, gid, a)
	if err != nil {
		return "", 0, 0, err
	}
	if err := st.need(RoleMember); err != nil {
		return "", 0, 0, err
	}
	if err := st.canInvite(); err != nil {
		return "", 0, 0, err
	}
	created = s.nowMs()
	expires = created + s.limits(app).QRCodeTTL.Milliseconds()
	return EncodeQRCode(secret, app, QRCode{Group: gid, Inviter: a.User, Expires: expires}), created, expires, nil
}
