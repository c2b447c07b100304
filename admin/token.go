package admin

import (
	"errors"
	"strings"
	"time"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/store"
)

// tokenResult is Lanying's TokenDto.
type tokenResult struct {
	Token           string `json:"token" doc:"the user token: access-token of the REST API and token of the WebSocket auth frame"`
	UserID          int64  `json:"user_id"`
	Expire          int64  `json:"expire" doc:"when the token expires (unix ms)"`
	PushToken       string `json:"push_token" doc:"with device_guid: the push token bound to that device (docs/api/users.md)"`
	AccessKeySecret string `json:"access_key_secret" doc:"always empty: chatgate has no file storage"`
	StoreToken      string `json:"store_token" doc:"always empty: chatgate has no file storage"`
	EncryptType     int32  `json:"encrypt_type" doc:"always 0: connections are protected by TLS, not by their own encryption"`
	PublicKey       string `json:"public_key" doc:"always empty (see encrypt_type)"`
}

type tokenByIDBody struct {
	UserID     *int64  `json:"user_id" required:"true"`
	Password   *string `json:"password" required:"true"`
	DeviceGUID string  `json:"device_guid" doc:"if set, push_token is the token bound to this device"`
}

type tokenByNameBody struct {
	Name       *string `json:"name" required:"true" doc:"username (case does not matter)"`
	Password   *string `json:"password" required:"true"`
	DeviceGUID string  `json:"device_guid" doc:"if set, push_token is the token bound to this device"`
}

type tokenByLoginBody struct {
	LoginName  *string `json:"login_name" required:"true" doc:"username, mobile (digits, optionally after +) or email (contains @)"`
	Password   *string `json:"password" required:"true"`
	DeviceGUID string  `json:"device_guid" doc:"if set, push_token is the token bound to this device"`
}

// tokenRoutes are the operations of the token group (Lanying's token.md):
// a user's own credentials buy a user token.
func (s *Server) tokenRoutes() []*Route {
	u := s.newUsers()
	errs := []int{CodeWrongPassword, CodeUserDisabled}
	return []*Route{
		{Methods: []string{"POST"}, Path: "/token/id", Summary: "Get ordinary user token by user ID and password", Group: "token",
			Access: AccessPublic, Body: tokenByIDBody{}, Result: tokenResult{}, Errors: errs, Handle: u.tokenByID},
		{Methods: []string{"POST"}, Path: "/token/user", Summary: "Get ordinary user token by username and password", Group: "token",
			Access: AccessPublic, Body: tokenByNameBody{}, Result: tokenResult{}, Errors: errs, Handle: u.tokenByName},
		{Methods: []string{"POST"}, Path: "/token/login", Summary: "Get ordinary user token by username/mobile number/email", Group: "token",
			Access: AccessPublic, Body: tokenByLoginBody{}, Result: tokenResult{}, Errors: errs, Handle: u.tokenByLogin},
	}
}

func (u *users) tokenByID(r *Req) (any, error) {
	var b tokenByIDBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	switch {
	case b.UserID == nil:
		return nil, BadParam("user_id", "required")
	case *b.UserID <= 0:
		return nil, BadParam("user_id", "a positive user id, got %d", *b.UserID)
	case b.Password == nil:
		return nil, BadParam("password", "required")
	}
	return u.login(r, *b.UserID, *b.Password, b.DeviceGUID)
}

func (u *users) tokenByName(r *Req) (any, error) {
	var b tokenByNameBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if b.Name == nil || *b.Name == "" {
		return nil, BadParam("name", "required")
	}
	if b.Password == nil {
		return nil, BadParam("password", "required")
	}
	return u.loginAs(r, store.IdentUsername, *b.Name, *b.Password, b.DeviceGUID)
}

func (u *users) tokenByLogin(r *Req) (any, error) {
	var b tokenByLoginBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if b.LoginName == nil || *b.LoginName == "" {
		return nil, BadParam("login_name", "required")
	}
	if b.Password == nil {
		return nil, BadParam("password", "required")
	}
	// The kinds cannot be confused: usernames have no @ and are never only
	// digits, which is what a mobile is.
	name, ident := *b.LoginName, store.IdentUsername
	switch {
	case strings.Contains(name, "@"):
		ident = store.IdentEmail
	case checkMobile("login_name", name) == nil:
		ident = store.IdentMobile
	}
	return u.loginAs(r, ident, name, *b.Password, b.DeviceGUID)
}

func (u *users) loginAs(r *Req, ident, name, pw, guid string) (any, error) {
	if len(name) > 254 {
		return nil, BadParam("name", "at most 254 bytes")
	}
	uid, err := u.s.st.LookupIdent(r.Ctx, r.App.ID, ident, name)
	if errors.Is(err, store.ErrNotFound) {
		u.matches("", pw)
		return nil, Errf(CodeWrongPassword, "wrong %s or password", ident)
	}
	if err != nil {
		return nil, err
	}
	return u.login(r, uid, pw, guid)
}

// login checks a user's password and mints a user token. Unknown users
// and wrong passwords get the same answer (10015), so the API does not
// tell which user ids exist; a disabled user learns it only with the
// right password.
func (u *users) login(r *Req, uid int64, pw, guid string) (any, error) {
	if len(pw) > maxPassword {
		return nil, BadParam("password", "at most %d bytes", maxPassword)
	}
	if err := checkText("device_guid", guid, maxGUID, false); err != nil {
		return nil, err
	}
	hash, state, gen, err := u.s.st.CredentialsGen(r.Ctx, r.App.ID, uid)
	if err != nil {
		return nil, err
	}
	if !u.matches(hash, pw) || state == store.UserMissing {
		return nil, Errf(CodeWrongPassword, "wrong user or password")
	}
	if state == store.UserDisabled {
		return nil, Errf(CodeUserDisabled, "user %d is disabled", uid)
	}
	now := u.s.now()
	ttl := u.s.cfg.UserTokenTTL
	tok, err := auth.IssueGen([]byte(r.App.Secret), r.App.ID, auth.RoleUser, uid, gen, ttl, now)
	if err != nil {
		return nil, err
	}
	// The token's exp has whole seconds.
	res := tokenResult{Token: tok, UserID: uid, Expire: now.Add(ttl).Truncate(time.Second).UnixMilli()}
	if guid != "" {
		d, err := u.s.st.Device(r.Ctx, r.App.ID, uid, store.GUIDDevice(guid))
		switch {
		case err == nil:
			res.PushToken = d.PushToken
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	return res, nil
}
