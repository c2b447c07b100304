package admin

import (
	"bytes"
	"errors"

	"github.com/chatgate/chatgate/store"
)

type profileResult struct {
	UserID      int64  `json:"user_id"`
	Username    string `json:"username"`
	NickName    string `json:"nick_name"`
	Avatar      string `json:"avatar"`
	Mobile      string `json:"mobile"`
	Email       string `json:"email"`
	Description string `json:"description"`
	PrivateInfo string `json:"private_info" doc:"visible only to the user itself (and admins)"`
	PublicInfo  string `json:"public_info"`
}

type profileBody struct {
	NickName    *string `json:"nick_name" doc:"at most 128 bytes"`
	Description *string `json:"description" doc:"at most 1024 bytes"`
	PrivateInfo *string `json:"private_info" doc:"at most 4096 bytes"`
	PublicInfo  *string `json:"public_info" doc:"at most 4096 bytes"`
	Avatar      *string `json:"avatar" doc:"chatgate extension: avatar URL, at most 1024 bytes"`
	Email       *string `json:"email" doc:"chatgate extension: email, unique in the app (login name of /token/login); empty clears it"`
}

type profileBatchBody struct {
	List []profileItem `json:"list" required:"true" doc:"1 to 500 users"`
}

type profileItem struct {
	UserID      int64   `json:"user_id" required:"true"`
	NickName    *string `json:"nick_name"`
	Description *string `json:"description"`
	PrivateInfo *string `json:"private_info"`
	PublicInfo  *string `json:"public_info"`
}

type avatarBody struct {
	Avatar *string `json:"avatar" required:"true" doc:"avatar URL, at most 1024 bytes; empty clears it"`
}

type avatarBatchBody struct {
	List []avatarItem `json:"list" required:"true" doc:"1 to 500 users"`
}

type avatarItem struct {
	UserID int64  `json:"user_id" required:"true"`
	Avatar string `json:"avatar" required:"true"`
}

func (u *users) profileRoutes() []*Route {
	return []*Route{
		{Methods: []string{"GET"}, Path: "/user/profile", Summary: "Get user information", Group: "user", Access: AccessToken,
			Result: profileResult{}, Errors: userErrs(), Handle: u.getProfile},
		{Methods: putPost, Path: "/user/profile", Summary: "Update user information", Group: "user", Access: AccessToken,
			Body: profileBody{}, Errors: userErrs(CodeUserExists), Handle: u.setProfile},
		{Methods: putPost, Path: "/user/profile/batch", Summary: "Update user information in batch", Group: "user", Access: AccessAdmin,
			Body: profileBatchBody{}, Result: []itemResult{}, Handle: u.setProfileBatch},
		{Methods: putPost, Path: "/user/avatar", Summary: "Set avatar", Group: "user", Access: AccessToken,
			Body: avatarBody{}, Errors: userErrs(), Handle: u.setAvatar},
		{Methods: putPost, Path: "/user/avatar/batch", Summary: "Set avatar in batch", Group: "user", Access: AccessAdmin,
			Body: avatarBatchBody{}, Result: []itemResult{}, Handle: u.setAvatarBatch},
		{Methods: putPost, Path: "/user/nickname", Summary: "Set nickname", Group: "user", Access: AccessToken,
			Query:  []Param{{Name: "nick_name", Type: "string", Required: true, Desc: "at most 128 bytes; empty clears it"}},
			Errors: userErrs(), Handle: u.setNickname},
		{Methods: putPost, Path: "/user/mobile", Summary: "Set mobile number", Group: "user", Access: AccessToken,
			Query:  []Param{{Name: "mobile", Type: "string", Required: true, Desc: "5 to 20 digits, optionally after a +; unique in the app; empty clears it"}},
			Errors: userErrs(CodeUserExists), Handle: func(r *Req) (any, error) { return u.setIdent(r, store.IdentMobile) }},
		{Methods: putPost, Path: "/user/username", Summary: "Modify username", Group: "user", Access: AccessToken,
			Query:  []Param{{Name: "username", Type: "string", Required: true, Desc: "the rules of /user/register/v2"}},
			Errors: userErrs(CodeUserExists), Handle: func(r *Req) (any, error) { return u.setIdent(r, store.IdentUsername) }},
		{Methods: putPost, Path: "/user/private", Summary: "Set private extension information", Group: "user", Access: AccessToken,
			Body: "", Errors: userErrs(), Handle: func(r *Req) (any, error) { return u.setInfo(r, store.FieldPrivateInfo) }},
		{Methods: putPost, Path: "/user/public", Summary: "Set public extension information", Group: "user", Access: AccessToken,
			Body: "", Errors: userErrs(), Handle: func(r *Req) (any, error) { return u.setInfo(r, store.FieldPublicInfo) }},
	}
}

func (u *users) getProfile(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	x, err := u.s.st.GetUser(r.Ctx, r.App.ID, uid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errf(CodeUserNotFound, "user %d does not exist", uid)
	}
	if err != nil {
		return nil, err
	}
	return profileResult{
		UserID: uid, Username: x.Username, NickName: x.Nickname, Avatar: x.Avatar, Mobile: x.Mobile, Email: x.Email,
		Description: x.Description, PrivateInfo: x.PrivateInfo, PublicInfo: x.PublicInfo,
	}, nil
}

// profileFields validates the profile fields of a request into the
// fields to write.
func profileFields(nick, desc, priv, pub, avatar *string) (map[string]string, error) {
	kv := map[string]string{}
	for _, f := range []struct {
		name      string
		v         *string
		max       int
		multiline bool
	}{
		{store.FieldNickname, nick, maxNickname, false},
		{store.FieldDescription, desc, maxDescription, true},
		{store.FieldPrivateInfo, priv, maxInfo, true},
		{store.FieldPublicInfo, pub, maxInfo, true},
		{store.FieldAvatar, avatar, maxURL, false},
	} {
		if f.v == nil {
			continue
		}
		if err := checkText(f.name, *f.v, f.max, f.multiline); err != nil {
			return nil, err
		}
		kv[f.name] = *f.v
	}
	return kv, nil
}

func (u *users) write(r *Req, uid int64, kv map[string]string) error {
	err := u.s.st.SetUserFields(r.Ctx, r.App.ID, uid, kv)
	if errors.Is(err, store.ErrNotFound) {
		return Errf(CodeUserNotFound, "user %d does not exist", uid)
	}
	if av, ok := kv[store.FieldAvatar]; ok && err == nil && av != "" && u.s.deps.Files != nil {
		// The uploaded avatar is referenced now: no longer an orphan.
		err = u.s.deps.Files.Referenced(r.Ctx, r.App.ID, av)
	}
	return err
}

func (u *users) setProfile(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	var b profileBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	kv, err := profileFields(b.NickName, b.Description, b.PrivateInfo, b.PublicInfo, b.Avatar)
	if err != nil {
		return nil, err
	}
	if b.Email != nil && *b.Email != "" {
		if err := checkEmail("email", *b.Email); err != nil {
			return nil, err
		}
	}
	if len(kv) == 0 && b.Email == nil {
		return nil, BadParam("body", "no field to update (nick_name, description, private_info, public_info, avatar, email)")
	}
	// The email first: it is the only part that can be refused (taken),
	// and then nothing is written.
	if b.Email != nil {
		if err := u.writeIdent(r, uid, store.IdentEmail, *b.Email); err != nil {
			return nil, err
		}
	}
	return nil, u.write(r, uid, kv)
}

func (u *users) setProfileBatch(r *Req) (any, error) {
	var b profileBatchBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if err := checkList("list", len(b.List)); err != nil {
		return nil, err
	}
	kvs := make([]map[string]string, len(b.List))
	errs := make([]error, len(b.List))
	for i, it := range b.List {
		kvs[i], errs[i] = profileFields(it.NickName, it.Description, it.PrivateInfo, it.PublicInfo, nil)
		if errs[i] == nil && len(kvs[i]) == 0 {
			errs[i] = BadParam("list", "no field to update")
		}
	}
	return u.batch(r, len(b.List), func(i int) int64 { return b.List[i].UserID }, errs,
		func(i int, uid int64) error { return u.write(r, uid, kvs[i]) })
}

// batch runs a per-user write over a batch: items with an invalid
// parameter (errs[i]) or a user that does not exist fail with a reason,
// the others are written.
func (u *users) batch(r *Req, n int, id func(int) int64, errs []error, do func(i int, uid int64) error) (any, error) {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = id(i)
	}
	states, err := u.s.st.UserStates(r.Ctx, r.App.ID, ids)
	if err != nil {
		return nil, err
	}
	out := make([]itemResult, n)
	for i, uid := range ids {
		out[i].UserID = uid
		switch {
		case errs[i] != nil:
			e, _ := asError(errs[i])
			out[i].Reason = e.Msg
			continue
		case uid <= 0 || states[i] == store.UserMissing:
			out[i].Reason = "user does not exist"
			continue
		}
		if err := do(i, uid); err != nil {
			e, business := asError(err)
			if !business {
				return nil, err
			}
			out[i].Reason = e.Msg
			continue
		}
		out[i].Success = true
	}
	return out, nil
}

func (u *users) setAvatar(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	var b avatarBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if b.Avatar == nil {
		return nil, BadParam("avatar", "required")
	}
	kv, err := profileFields(nil, nil, nil, nil, b.Avatar)
	if err != nil {
		return nil, err
	}
	return nil, u.write(r, uid, kv)
}

func (u *users) setAvatarBatch(r *Req) (any, error) {
	var b avatarBatchBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if err := checkList("list", len(b.List)); err != nil {
		return nil, err
	}
	errs := make([]error, len(b.List))
	for i, it := range b.List {
		errs[i] = checkText("avatar", it.Avatar, maxURL, false)
	}
	return u.batch(r, len(b.List), func(i int) int64 { return b.List[i].UserID }, errs,
		func(i int, uid int64) error {
			return u.write(r, uid, map[string]string{store.FieldAvatar: b.List[i].Avatar})
		})
}

func (u *users) setNickname(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	v, err := r.QueryString("nick_name", "")
	if err != nil {
		return nil, err
	}
	kv, err := profileFields(&v, nil, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	return nil, u.write(r, uid, kv)
}

func (u *users) setIdent(r *Req, ident string) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	v, err := r.QueryString(ident, "")
	if err != nil {
		return nil, err
	}
	switch {
	case ident == store.IdentUsername:
		err = checkUsername(ident, v)
	case v != "":
		err = checkMobile(ident, v)
	}
	if err != nil {
		return nil, err
	}
	return nil, u.writeIdent(r, uid, ident, v)
}

func (u *users) writeIdent(r *Req, uid int64, ident, v string) error {
	err := u.s.st.SetIdent(r.Ctx, r.App.ID, uid, ident, v, u.s.now())
	switch {
	case errors.Is(err, store.ErrTaken):
		return Errf(CodeUserExists, "%s %s is already used by another user", ident, clip(v))
	case errors.Is(err, store.ErrNotFound):
		return Errf(CodeUserNotFound, "user %d does not exist", uid)
	}
	return err
}

// setInfo stores the request body as the user's private or public
// information. Lanying's body is the text itself: a JSON string is
// decoded, anything else (a JSON object, plain text) is kept verbatim.
func (u *users) setInfo(r *Req, field string) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	body := bytes.TrimSpace(r.HTTP.PostBody())
	var v string
	switch {
	case len(body) == 0:
		return nil, BadParam("body", "the information is required (send \"\" to clear it)")
	case body[0] == '"':
		if err := r.Bind(&v); err != nil {
			return nil, err
		}
	default:
		v = string(body)
	}
	if err := checkText("body", v, maxInfo, true); err != nil {
		return nil, err
	}
	return nil, u.write(r, uid, map[string]string{field: v})
}
