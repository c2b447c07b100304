package admin

import (
	"errors"
	"runtime"
	"sort"
	"sync"

	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

type registerBody struct {
	Username *string `json:"username" required:"true" doc:"letters, digits and underscore; not only digits; not beginning with maxim or mta; unique in the app regardless of case; at most 64"`
	Password *string `json:"password" required:"true" doc:"1 to 72 bytes"`
}

type pushRegisterBody struct {
	Username   *string `json:"username" required:"true" doc:"as /user/register/v2"`
	Password   *string `json:"password" required:"true" doc:"1 to 72 bytes"`
	Alias      string  `json:"alias" doc:"push alias to bind, at most 128 bytes"`
	DeviceGUID string  `json:"device_guid" doc:"the push SDK's device id, at most 128 bytes; the device is device_sn GUIDDevice(device_guid) (docs/api/users.md)"`
	PushToken  string  `json:"push_token" doc:"APNs/FCM token of the device, at most 512 bytes"`
	Sign       string  `json:"sign" doc:"accepted and ignored (at most 512 bytes)"`
}

// settingsResult is Lanying's UserSettings: the answer of the register
// operations and of GET /user/settings.
type settingsResult struct {
	UserID int64 `json:"user_id"`
	ID     int64 `json:"id" doc:"the user id again (Lanying's settings record id)"`
	store.Settings
	PushToken string `json:"push_token" doc:"the push token bound most recently to one of the user's devices"`
}

type listBody struct {
	List []int64 `json:"list" required:"true" doc:"user ids, 1 to 500"`
	// RevokeTokens is a chatgate extension (docs/api/users.md).
	RevokeTokens *bool `json:"revoke_tokens" doc:"chatgate: also revoke every token the users were issued before (default admin.revoke_tokens)"`
}

type registerBatchBody struct {
	List []registerItem `json:"list" required:"true" doc:"1 to 500 users"`
}

type registerItem struct {
	Username string `json:"username" required:"true"`
	Password string `json:"password" required:"true"`
}

type registerItemResult struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
	Success  bool   `json:"success"`
	Reason   string `json:"reason,omitempty" doc:"why the item failed"`
}

type changePasswordBody struct {
	OldPassword  *string `json:"old_password" required:"true"`
	NewPassword  *string `json:"new_password" required:"true" doc:"1 to 72 bytes"`
	RevokeTokens *bool   `json:"revoke_tokens" doc:"chatgate: also revoke every token the user was issued before, this request's included (default admin.revoke_tokens)"`
}

type passwordBody struct {
	Password     *string `json:"password" required:"true" doc:"1 to 72 bytes"`
	RevokeTokens *bool   `json:"revoke_tokens" doc:"chatgate: also revoke every token the user was issued before (default admin.revoke_tokens)"`
}

type deleteBody struct {
	Password string `json:"password" doc:"the user's password: required with a user token, not read with an admin token"`
}

type userBrief struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
	Status   int32  `json:"status" doc:"0 normal, 1 disabled"`
}

func (u *users) accountRoutes() []*Route {
	return []*Route{
		{Methods: []string{"POST"}, Path: "/user/register/v2", Summary: "Register user", Group: "user", Access: AccessPublic,
			Body: registerBody{}, Result: settingsResult{}, Errors: []int{CodeUserExists}, Handle: u.register},
		{Methods: []string{"POST"}, Path: "/user/register/batch", Summary: "Register user in batch", Group: "user", Access: AccessAdmin,
			Body: registerBatchBody{}, Result: []registerItemResult{}, Handle: u.registerBatch},
		{Methods: []string{"POST"}, Path: "/user/register/push", Summary: "Register push user", Group: "user", Access: AccessPublic,
			Body: pushRegisterBody{}, Result: settingsResult{}, Errors: []int{CodeUserExists}, Handle: u.registerPush},
		{Methods: []string{"POST"}, Path: "/user/change_password", Summary: "Modify password", Group: "user", Access: AccessToken,
			Body: changePasswordBody{}, Errors: userErrs(CodeWrongPassword), Handle: u.changePassword},
		{Methods: []string{"POST"}, Path: "/user/change_password_admin", Summary: "Administrator change password", Group: "user", Access: AccessAdmin,
			Body: passwordBody{}, Errors: userErrs(), Handle: u.changePasswordAdmin},
		{Methods: []string{"DELETE", "POST"}, Path: "/user/delete", Summary: "Delete users", Group: "user", Access: AccessToken,
			Body: deleteBody{}, Errors: userErrs(CodeWrongPassword), Handle: u.delete},
		{Methods: []string{"PUT"}, Path: "/user/disable", Summary: "Banned user", Group: "user", Access: AccessAdmin,
			Body: listBody{}, Errors: []int{CodeUserNotFound}, Handle: func(r *Req) (any, error) { return u.setDisabled(r, true) }},
		{Methods: []string{"PUT"}, Path: "/user/enable", Summary: "Unbanned user", Group: "user", Access: AccessAdmin,
			Body: listBody{}, Errors: []int{CodeUserNotFound}, Handle: func(r *Req) (any, error) { return u.setDisabled(r, false) }},
		{Methods: []string{"GET"}, Path: "/user/list", Summary: "List all users under the APP", Group: "user", Access: AccessAdmin,
			Query: []Param{
				{Name: "page_num", Type: "int32", Desc: "page number from 1 (default 1)"},
				{Name: "page_size", Type: "int32", Desc: "users per page, 1-500 (default 50)"},
			},
			Result: []userBrief{}, Handle: u.list},
	}
}

// createUser validates and registers one user.
func (u *users) createUser(r *Req, username, password string) (int64, error) {
	if err := checkUsername("username", username); err != nil {
		return 0, err
	}
	if err := checkPassword("password", password); err != nil {
		return 0, err
	}
	h, err := u.hash(password)
	if err != nil {
		return 0, err
	}
	uid, err := u.s.st.CreateUser(r.Ctx, r.App.ID, store.NewUser{Username: username, PasswordHash: h}, u.s.now())
	if errors.Is(err, store.ErrTaken) {
		return 0, Errf(CodeUserExists, "username %s already exists", username)
	}
	return uid, err
}

func (u *users) settingsOf(r *Req, uid int64) (settingsResult, error) {
	state, st, devs, err := u.s.st.SettingsView(r.Ctx, r.App.ID, uid)
	if err != nil {
		return settingsResult{}, err
	}
	if err := u.stateErr(r, uid, state); err != nil {
		return settingsResult{}, err
	}
	res := settingsResult{UserID: uid, ID: uid, Settings: st}
	var at int64 = -1
	for _, d := range devs {
		if d.PushToken != "" && d.TokenAt > at {
			res.PushToken, at = d.PushToken, d.TokenAt
		}
	}
	return res, nil
}

func (u *users) register(r *Req) (any, error) {
	var b registerBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if b.Username == nil || b.Password == nil {
		return nil, BadParam("username, password", "both required")
	}
	uid, err := u.createUser(r, *b.Username, *b.Password)
	if err != nil {
		return nil, err
	}
	return u.settingsOf(r, uid)
}

// registerPush registers a user of the push SDK and binds its alias and
// push token. If binding fails the user is removed again: nothing is
// left half-registered.
func (u *users) registerPush(r *Req) (any, error) {
	var b pushRegisterBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if b.Username == nil || b.Password == nil {
		return nil, BadParam("username, password", "both required")
	}
	if err := checkText("alias", b.Alias, maxAlias, false); err != nil {
		return nil, err
	}
	if err := checkText("device_guid", b.DeviceGUID, maxGUID, false); err != nil {
		return nil, err
	}
	if err := checkText("sign", b.Sign, 512, false); err != nil {
		return nil, err
	}
	if b.PushToken != "" {
		if err := checkToken("push_token", b.PushToken, maxPushToken); err != nil {
			return nil, err
		}
	}
	uid, err := u.createUser(r, *b.Username, *b.Password)
	if err != nil {
		return nil, err
	}
	err = u.bindPush(r, uid, b.Alias, b.DeviceGUID, b.PushToken)
	if err != nil {
		if derr := u.s.st.DeleteUser(r.Ctx, r.App.ID, uid, u.s.cfg.UserTokenTTL, u.s.now()); derr != nil {
			u.s.log.Error("remove half-registered push user", "app", r.App.ID, "user", uid, "err", derr)
		}
		return nil, err
	}
	return u.settingsOf(r, uid)
}

func (u *users) bindPush(r *Req, uid int64, alias, guid, token string) error {
	if alias != "" {
		if err := u.s.st.SetAlias(r.Ctx, r.App.ID, uid, alias); err != nil {
			return err
		}
	}
	if token == "" {
		return nil
	}
	sn := store.GUIDDevice(guid)
	if err := u.s.st.BindPushToken(r.Ctx, r.App.ID, uid, sn, token, "", u.s.now()); err != nil {
		return err
	}
	if alias == "" {
		return nil
	}
	return u.s.st.UpdateDevice(r.Ctx, r.App.ID, uid, sn, func(d *store.Device) { d.Alias = alias })
}

// registerBatch registers up to 500 users, each on its own: one item's
// failure does not stop the others. Hashing passwords is the cost of a
// registration, so items are hashed on every core; items not reached
// before the request deadline fail with a reason and can be resent.
func (u *users) registerBatch(r *Req) (any, error) {
	var b registerBatchBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if err := checkList("list", len(b.List)); err != nil {
		return nil, err
	}
	out := make([]registerItemResult, len(b.List))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, it := range b.List {
		out[i].Username = it.Username
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if r.Ctx.Err() != nil {
				out[i].Reason = "not registered: the request ran out of time; resend this item"
				return
			}
			uid, err := u.createUser(r, it.Username, it.Password)
			if err != nil {
				if e, ok := asError(err); ok {
					out[i].Reason = e.Msg
				} else {
					u.s.log.Error("batch register", "app", r.App.ID, "err", err)
					out[i].Reason = "server error; resend this item"
				}
				return
			}
			out[i].UserID, out[i].Success = uid, true
		}()
	}
	wg.Wait()
	return out, nil
}

func (u *users) changePassword(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	var b changePasswordBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if b.OldPassword == nil {
		return nil, BadParam("old_password", "required")
	}
	if b.NewPassword == nil {
		return nil, BadParam("new_password", "required")
	}
	if err := checkPassword("new_password", *b.NewPassword); err != nil {
		return nil, err
	}
	hash, _, err := u.s.st.Credentials(r.Ctx, r.App.ID, uid)
	if err != nil {
		return nil, err
	}
	if !u.matches(hash, *b.OldPassword) {
		return nil, Errf(CodeWrongPassword, "old_password is wrong")
	}
	return nil, u.setPassword(r, uid, *b.NewPassword, u.revoke(b.RevokeTokens))
}

func (u *users) changePasswordAdmin(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	var b passwordBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if b.Password == nil {
		return nil, BadParam("password", "required")
	}
	if err := checkPassword("password", *b.Password); err != nil {
		return nil, err
	}
	return nil, u.setPassword(r, uid, *b.Password, u.revoke(b.RevokeTokens))
}

// revoke is the revoke_tokens option of a request, admin.revoke_tokens
// when the request does not say.
func (u *users) revoke(opt *bool) bool {
	if opt != nil {
		return *opt
	}
	return u.s.cfg.RevokeTokens
}

// setPassword stores a new password; revoke also cuts off every token the
// user holds, so that a stolen one stops working (4018 on the socket, 10008 here).
func (u *users) setPassword(r *Req, uid int64, pw string, revoke bool) error {
	h, err := u.hash(pw)
	if err != nil {
		return err
	}
	err = u.s.st.SetUserFieldsRevoking(r.Ctx, r.App.ID, uid, map[string]string{"password": h}, revoke)
	if errors.Is(err, store.ErrNotFound) {
		return Errf(CodeUserNotFound, "user %d does not exist", uid)
	}
	return err
}

// delete removes the acting user and closes its live connections (kick
// 4108). A user deletes itself with its password; an admin without.
func (u *users) delete(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	if !r.Admin {
		var b deleteBody
		if err := r.Bind(&b); err != nil {
			return nil, err
		}
		if b.Password == "" {
			return nil, BadParam("password", "required with a user token")
		}
		hash, _, err := u.s.st.Credentials(r.Ctx, r.App.ID, uid)
		if err != nil {
			return nil, err
		}
		if !u.matches(hash, b.Password) {
			return nil, Errf(CodeWrongPassword, "password is wrong")
		}
	} else if len(r.HTTP.PostBody()) > 0 {
		// Read for its shape only, so malformed JSON is still an error.
		var b deleteBody
		if err := r.Bind(&b); err != nil {
			return nil, err
		}
	}
	now := u.s.now()
	routes, err := u.s.st.Routes(r.Ctx, r.App.ID, uid, now)
	if err != nil {
		return nil, err
	}
	if u.s.deps.Files != nil {
		// Before the delete, which drops the index of the user's files.
		if err := u.s.deps.Files.UserDeleted(r.Ctx, r.App.ID, uid); err != nil {
			return nil, err
		}
	}
	err = u.s.st.DeleteUser(r.Ctx, r.App.ID, uid, u.s.cfg.UserTokenTTL, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errf(CodeUserNotFound, "user %d does not exist", uid)
	}
	if err != nil {
		return nil, err
	}
	// After the delete, so that a connection that reconnects at once is
	// refused at auth.
	return nil, u.s.kick(r.Ctx, r.App.ID, []userRoutes{{user: uid, routes: routes}}, protocol.CodeKickDeleted)
}

// setDisabled disables or enables users: every id must exist, or nothing
// is written. Disabled users' live connections are kicked (4103).
func (u *users) setDisabled(r *Req, disabled bool) (any, error) {
	var b listBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if err := checkList("list", len(b.List)); err != nil {
		return nil, err
	}
	ids := dedupeIDs(b.List)
	for _, id := range ids {
		if id <= 0 {
			return nil, BadParam("list", "user ids are positive, got %d", id)
		}
	}
	states, err := u.s.st.UserStates(r.Ctx, r.App.ID, ids)
	if err != nil {
		return nil, err
	}
	for i, st := range states {
		if st == store.UserMissing {
			return nil, Errf(CodeUserNotFound, "user %d does not exist; no user was changed", ids[i])
		}
	}
	if err := u.s.st.SetUsersDisabledRevoking(r.Ctx, r.App.ID, ids, disabled, u.revoke(b.RevokeTokens)); err != nil {
		return nil, err
	}
	if !disabled {
		return nil, nil
	}
	return nil, u.s.kickUsers(r.Ctx, r.App.ID, ids, protocol.CodeKickDisabled)
}

func dedupeIDs(ids []int64) []int64 {
	out := append([]int64(nil), ids...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	n := 0
	for i, id := range out {
		if i == 0 || id != out[n-1] {
			out[n] = id
			n++
		}
	}
	return out[:n]
}

func (u *users) list(r *Req) (any, error) {
	num, err := r.QueryInt32("page_num", 1)
	if err != nil {
		return nil, err
	}
	size, err := r.QueryInt32("page_size", 50)
	if err != nil {
		return nil, err
	}
	if num < 1 {
		return nil, BadParam("page_num", "must be at least 1, got %d", num)
	}
	if size < 1 || size > maxPageSize {
		return nil, BadParam("page_size", "must be 1-%d, got %d", maxPageSize, size)
	}
	us, err := u.s.st.ListUsers(r.Ctx, r.App.ID, int64(num-1)*int64(size), int64(size))
	if err != nil {
		return nil, err
	}
	out := make([]userBrief, 0, len(us))
	for _, x := range us {
		b := userBrief{UserID: x.ID, Username: x.Username}
		if x.Disabled {
			b.Status = 1
		}
		out = append(out, b)
	}
	return out, nil
}
