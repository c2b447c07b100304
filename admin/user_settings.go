package admin

import (
	"errors"
	"sort"

	"github.com/chatgate/chatgate/internal/pushcert"

	"github.com/chatgate/chatgate/store"
)

// settingsBody is Lanying's UserSettings as a request: absent fields are
// left as they are.
type settingsBody struct {
	UserID           *int64  `json:"user_id" doc:"the user: with an admin token and no user_id header, the user to change; otherwise, if given, must be the acting user"`
	ID               *int64  `json:"id" doc:"ignored"`
	AuthMode         *int32  `json:"auth_mode" doc:"0 anyone may add, 1 needs consent, 2 answer auth_question, 3 nobody"`
	AuthQuestion     *string `json:"auth_question" doc:"at most 256 bytes"`
	AuthAnswer       *string `json:"auth_answer" doc:"at most 256 bytes"`
	AutoDownload     *bool   `json:"auto_download"`
	GroupConfirm     *bool   `json:"group_confirm"`
	NoPush           *bool   `json:"no_push"`
	NoPushDetail     *bool   `json:"no_push_detail"`
	NoPushStartHour  *int32  `json:"no_push_start_hour" doc:"0-23"`
	NoPushEndHour    *int32  `json:"no_push_end_hour" doc:"0-23"`
	NoSounds         *bool   `json:"no_sounds"`
	PushNickName     *string `json:"push_nick_name" doc:"at most 128 bytes"`
	PushToken        *string `json:"push_token" doc:"ignored: bind tokens with /user/token/bind, which names the device"`
	SilenceStartTime *int32  `json:"silence_start_time" doc:"0-23"`
	SilenceEndTime   *int32  `json:"silence_end_time" doc:"0-23"`
	Vibratory        *bool   `json:"vibratory"`
	TimeZone         *string `json:"time_zone" doc:"chatgate extension: IANA zone of the hour windows (e.g. Asia/Shanghai); empty: the server's default"`
}

func (u *users) settingsRoutes() []*Route {
	return []*Route{
		{Methods: []string{"GET"}, Path: "/user/settings", Summary: "Get user settings", Group: "user", Access: AccessToken,
			Result: settingsResult{}, Errors: userErrs(), Handle: u.getSettings},
		{Methods: putPost, Path: "/user/settings", Summary: "Modify user settings", Group: "user", Access: AccessToken,
			Body: settingsBody{}, Errors: userErrs(), Handle: u.setSettings},
		{Methods: putPost, Path: "/user/authmode", Summary: "Set how to validate when adding friend", Group: "user", Access: AccessToken,
			Query:  []Param{{Name: "value", Type: "int32", Required: true, Desc: "0 anyone may add, 1 needs consent, 2 answer the question, 3 nobody"}},
			Errors: userErrs(), Handle: u.setAuthMode},
		u.boolSetting("/user/download", "Set whether to download thumbnails and files automatically", "auto_download", "true: download automatically"),
		u.boolSetting("/user/sounds", "Set whether to mute sound alert for new message", "no_sounds", "true: no sound"),
		u.boolSetting("/user/vibratory", "Set whether to vibrate alert for new message", "vibratory", "true: vibrate"),
		u.boolSetting("/user/push", "Set whether to turn off push", "no_push", "true: no push at all"),
		u.boolSetting("/user/push/detail", "Set whether to turn off push details", "no_push_detail", "true: pushes show a generic text instead of the content"),
		{Methods: putPost, Path: "/user/push/limit", Summary: "Set push no-disturb time", Group: "user", Access: AccessToken,
			Query: []Param{
				{Name: "no_push_start_hour", Type: "int32", Required: true, Desc: "0-23, in the user's time_zone"},
				{Name: "no_push_end_hour", Type: "int32", Required: true, Desc: "0-23; equal to the start: no window"},
			},
			Errors: userErrs(), Handle: u.setPushLimit},
		{Methods: putPost, Path: "/user/push/nickname", Summary: "Set push nickname", Group: "user", Access: AccessToken,
			Query:  []Param{{Name: "value", Type: "string", Required: true, Desc: "the sender name pushes show, at most 128 bytes; empty: the nickname"}},
			Errors: userErrs(), Handle: u.setPushNickname},
	}
}

// boolSetting is an operation that sets one boolean setting from ?value.
func (u *users) boolSetting(path, summary, field, desc string) *Route {
	return &Route{Methods: putPost, Path: path, Summary: summary, Group: "user", Access: AccessToken,
		Query:  []Param{{Name: "value", Type: "boolean", Required: true, Desc: desc}},
		Errors: userErrs(),
		Handle: func(r *Req) (any, error) {
			uid, err := u.target(r)
			if err != nil {
				return nil, err
			}
			v, err := r.QueryBool("value", false)
			if err != nil {
				return nil, err
			}
			return nil, u.s.st.SetSettings(r.Ctx, r.App.ID, uid, map[string]any{field: v})
		}}
}

func (u *users) getSettings(r *Req) (any, error) {
	// Not u.target: settingsOf reads the user's state together with the
	// settings, in one round trip.
	uid, err := r.User()
	if err != nil {
		return nil, err
	}
	return u.settingsOf(r, uid)
}

// settingsTarget resolves the user of PUT /user/settings: the acting user,
// or for an admin token without user_id header the body's user_id, as
// Lanying's UserSettings names its user.
func (u *users) settingsTarget(r *Req, body *int64) (int64, error) {
	uid := r.UserID
	switch {
	case body == nil || *body == uid:
	case uid == 0 && r.Admin:
		uid = *body
		if uid <= 0 {
			return 0, BadParam("user_id", "a positive user id, got %d", uid)
		}
	case !r.Admin:
		return 0, Errf(CodeNoPermission, "a user token changes only its own settings (user_id %d)", *body)
	default:
		return 0, BadParam("user_id", "body names user %d but the user_id header names %d", *body, uid)
	}
	if uid == 0 {
		return 0, BadParam("user_id", "required: in the header or the body with an admin token")
	}
	return uid, u.check(r, uid)
}

func (u *users) setSettings(r *Req) (any, error) {
	var b settingsBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	uid, err := u.settingsTarget(r, b.UserID)
	if err != nil {
		return nil, err
	}
	kv := map[string]any{}
	if b.AuthMode != nil {
		if *b.AuthMode < 0 || *b.AuthMode > 3 {
			return nil, BadParam("auth_mode", "0-3, got %d", *b.AuthMode)
		}
		kv["auth_mode"] = int(*b.AuthMode)
	}
	for _, f := range []struct {
		name string
		v    *string
		max  int
	}{{"auth_question", b.AuthQuestion, maxQuestion}, {"auth_answer", b.AuthAnswer, maxQuestion}, {"push_nick_name", b.PushNickName, maxNickname}} {
		if f.v == nil {
			continue
		}
		if err := checkText(f.name, *f.v, f.max, false); err != nil {
			return nil, err
		}
		kv[f.name] = *f.v
	}
	for _, f := range []struct {
		name string
		v    *bool
	}{{"auto_download", b.AutoDownload}, {"group_confirm", b.GroupConfirm}, {"no_push", b.NoPush},
		{"no_push_detail", b.NoPushDetail}, {"no_sounds", b.NoSounds}, {"vibratory", b.Vibratory}} {
		if f.v != nil {
			kv[f.name] = *f.v
		}
	}
	for _, f := range []struct {
		name string
		v    *int32
	}{{"no_push_start_hour", b.NoPushStartHour}, {"no_push_end_hour", b.NoPushEndHour},
		{"silence_start_time", b.SilenceStartTime}, {"silence_end_time", b.SilenceEndTime}} {
		if f.v == nil {
			continue
		}
		if err := checkHour(f.name, *f.v); err != nil {
			return nil, err
		}
		kv[f.name] = int(*f.v)
	}
	if b.TimeZone != nil {
		if err := checkTimeZone("time_zone", *b.TimeZone); err != nil {
			return nil, err
		}
		kv["time_zone"] = *b.TimeZone
	}
	if len(kv) == 0 {
		return nil, BadParam("body", "no setting to change")
	}
	return nil, u.s.st.SetSettings(r.Ctx, r.App.ID, uid, kv)
}

func (u *users) setAuthMode(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	v, err := r.QueryInt32("value", 0)
	if err != nil {
		return nil, err
	}
	if v < 0 || v > 3 {
		return nil, BadParam("value", "0-3, got %d", v)
	}
	return nil, u.s.st.SetSettings(r.Ctx, r.App.ID, uid, map[string]any{"auth_mode": int(v)})
}

func (u *users) setPushLimit(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	start, err := r.QueryInt32("no_push_start_hour", 0)
	if err != nil {
		return nil, err
	}
	end, err := r.QueryInt32("no_push_end_hour", 0)
	if err != nil {
		return nil, err
	}
	if err := checkHour("no_push_start_hour", start); err != nil {
		return nil, err
	}
	if err := checkHour("no_push_end_hour", end); err != nil {
		return nil, err
	}
	return nil, u.s.st.SetSettings(r.Ctx, r.App.ID, uid, map[string]any{"no_push_start_hour": int(start), "no_push_end_hour": int(end)})
}

func (u *users) setPushNickname(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	v, err := r.QueryString("value", "")
	if err != nil {
		return nil, err
	}
	if err := checkText("value", v, maxNickname, false); err != nil {
		return nil, err
	}
	return nil, u.s.st.SetSettings(r.Ctx, r.App.ID, uid, map[string]any{"push_nick_name": v})
}

type aliasBody struct {
	Alias     *string `json:"alias" required:"true" doc:"at most 128 bytes; empty removes the alias"`
	PushToken string  `json:"push_token" doc:"if given, a push token bound to one of the user's devices: the alias is recorded on that device too"`
}

type badgeBody struct {
	Badge *int32 `json:"badge" required:"true" doc:"0 or more"`
}

type tagsBody struct {
	Tags []string `json:"tags" required:"true" doc:"1 to 100 tags of 1 to 64 bytes; a user has at most 100"`
}

type bindBody struct {
	DeviceSN     *int32  `json:"device_sn" required:"true" doc:"the device, positive"`
	DeviceToken  *string `json:"device_token" required:"true" doc:"the push token the provider gave the device (APNs, FCM or a phone maker's), 1 to 512 bytes of printable ASCII"`
	NotifierName *string `json:"notifier_name" required:"true" doc:"the push certificate's name as /push/certificate reports it, any case (at most 64 bytes; an unknown name: 12006); empty: the app's default certificate for the device's platform"`
}

func (u *users) pushRoutes() []*Route {
	return []*Route{
		{Methods: []string{"POST"}, Path: "/user/push/alias", Summary: "Bind alias", Group: "user", Access: AccessToken,
			Body: aliasBody{}, Errors: userErrs(), Handle: u.setAlias},
		{Methods: []string{"POST"}, Path: "/user/push/badge", Summary: "Set badge", Group: "user", Access: AccessToken,
			Body: badgeBody{}, Errors: userErrs(), Handle: u.setBadge},
		{Methods: []string{"GET"}, Path: "/user/push/tag", Summary: "Get tag", Group: "user", Access: AccessToken,
			Result: []string{}, Errors: userErrs(), Handle: u.getTags},
		{Methods: []string{"POST"}, Path: "/user/push/tag", Summary: "Bind tag", Group: "user", Access: AccessToken,
			Body: tagsBody{}, Errors: userErrs(), Handle: func(r *Req) (any, error) { return u.changeTags(r, true) }},
		{Methods: []string{"DELETE"}, Path: "/user/push/tag", Summary: "Unbind tag", Group: "user", Access: AccessToken,
			Body: tagsBody{}, Errors: userErrs(), Handle: func(r *Req) (any, error) { return u.changeTags(r, false) }},
		{Methods: []string{"DELETE"}, Path: "/user/push/tag/all", Summary: "Delete all tags", Group: "user", Access: AccessToken,
			Errors: userErrs(), Handle: u.clearTags},
		{Methods: putPost, Path: "/user/token/bind", Summary: "Bind token", Group: "user", Access: AccessToken,
			Body: bindBody{}, Errors: userErrs(CodePushDisabled), Handle: u.bindToken},
		{Methods: []string{"DELETE", "POST"}, Path: "/user/token/unbind", Summary: "Unbind token", Group: "user", Access: AccessToken,
			Query:  []Param{{Name: "deviceSn", Type: "int32", Required: true, Desc: "a registered device of the user"}},
			Errors: userErrs(), Handle: u.unbindToken},
	}
}

func (u *users) setAlias(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	var b aliasBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	if b.Alias == nil {
		return nil, BadParam("alias", "required (\"\" removes the alias)")
	}
	if err := checkText("alias", *b.Alias, maxAlias, false); err != nil {
		return nil, err
	}
	var sn int32
	if b.PushToken != "" {
		owner, dev, err := u.s.st.PushTokenOwner(r.Ctx, r.App.ID, b.PushToken)
		if errors.Is(err, store.ErrNotFound) || err == nil && owner != uid {
			return nil, BadParam("push_token", "not bound to a device of user %d", uid)
		}
		if err != nil {
			return nil, err
		}
		sn = dev
	}
	if err := u.s.st.SetAlias(r.Ctx, r.App.ID, uid, *b.Alias); err != nil {
		return nil, err
	}
	if sn == 0 {
		return nil, nil
	}
	return nil, u.s.st.UpdateDevice(r.Ctx, r.App.ID, uid, sn, func(d *store.Device) { d.Alias = *b.Alias })
}

func (u *users) setBadge(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	var b badgeBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	switch {
	case b.Badge == nil:
		return nil, BadParam("badge", "required")
	case *b.Badge < 0:
		return nil, BadParam("badge", "0 or more, got %d", *b.Badge)
	}
	return nil, u.s.st.SetBadge(r.Ctx, r.App.ID, uid, int64(*b.Badge))
}

func (u *users) getTags(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	tags, err := u.s.st.Tags(r.Ctx, r.App.ID, uid)
	if err != nil {
		return nil, err
	}
	sort.Strings(tags)
	if tags == nil {
		tags = []string{}
	}
	return tags, nil
}

func (u *users) changeTags(r *Req, add bool) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	var b tagsBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	switch {
	case len(b.Tags) == 0:
		return nil, BadParam("tags", "required: a non-empty list")
	case len(b.Tags) > maxTagsPerUser:
		return nil, BadParam("tags", "at most %d tags, got %d", maxTagsPerUser, len(b.Tags))
	}
	for _, t := range b.Tags {
		if t == "" {
			return nil, BadParam("tags", "a tag cannot be empty")
		}
		if err := checkText("tags", t, maxTag, false); err != nil {
			return nil, err
		}
	}
	if !add {
		return nil, u.s.st.RemoveTags(r.Ctx, r.App.ID, uid, b.Tags...)
	}
	cur, err := u.s.st.Tags(r.Ctx, r.App.ID, uid)
	if err != nil {
		return nil, err
	}
	union := map[string]bool{}
	for _, t := range append(cur, b.Tags...) {
		union[t] = true
	}
	if len(union) > maxTagsPerUser {
		return nil, BadParam("tags", "a user has at most %d tags; it has %d and this adds %d new", maxTagsPerUser, len(cur), len(union)-len(cur))
	}
	return nil, u.s.st.AddTags(r.Ctx, r.App.ID, uid, b.Tags...)
}

func (u *users) clearTags(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	return nil, u.s.st.RemoveAllTags(r.Ctx, r.App.ID, uid)
}

func (u *users) bindToken(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	var b bindBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	switch {
	case b.DeviceSN == nil:
		return nil, BadParam("device_sn", "required")
	case b.DeviceToken == nil:
		return nil, BadParam("device_token", "required")
	case b.NotifierName == nil:
		return nil, BadParam("notifier_name", "required (\"\" keeps the device's current push credentials)")
	}
	if err := checkDeviceSN("device_sn", *b.DeviceSN); err != nil {
		return nil, err
	}
	if err := checkToken("device_token", *b.DeviceToken, maxPushToken); err != nil {
		return nil, err
	}
	if err := checkText("notifier_name", *b.NotifierName, maxNotifier, false); err != nil {
		return nil, err
	}
	name, err := u.s.certificateName(r, *b.NotifierName)
	if err != nil {
		return nil, err
	}
	return nil, u.s.st.BindPushToken(r.Ctx, r.App.ID, uid, *b.DeviceSN, *b.DeviceToken, name, u.s.now())
}

func (u *users) unbindToken(r *Req) (any, error) {
	uid, err := u.target(r)
	if err != nil {
		return nil, err
	}
	sn, err := r.QueryInt32("deviceSn", 0)
	if err != nil {
		return nil, err
	}
	if err := checkDeviceSN("deviceSn", sn); err != nil {
		return nil, err
	}
	ok, err := u.s.st.HasDevice(r.Ctx, r.App.ID, uid, sn)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, BadParam("deviceSn", "user %d has no device %d", uid, sn)
	}
	return nil, u.s.st.SetPushToken(r.Ctx, r.App.ID, uid, sn, "", "", u.s.now())
}

// certificateName checks a notifier_name against the app's push
// certificates at bind time and returns it as stored (pushcert.Canonical).
// An unknown name is refused with 12006 instead of being accepted and
// never pushed to.
func (s *Server) certificateName(r *Req, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	certs, err := s.st.PushCerts(r.Ctx, r.App.ID)
	if err != nil {
		return "", err
	}
	c, err := pushcert.Canonical(certs, name)
	if err != nil {
		return "", Errf(CodePushDisabled, "notifier_name: the app has no push certificate named %q", name)
	}
	return c, nil
}
