package admin

import (
	"encoding/json"

	"github.com/chatgate/chatgate/internal/pushcert"
	"github.com/chatgate/chatgate/pushworker"
	"github.com/chatgate/chatgate/store"
)

// notifyBody is POST /push/notify's body (push.md 7.2).
type notifyBody struct {
	Audience json.RawMessage             `json:"audience" required:"true" doc:"\"all\", or an object with one list (at most 500): {\"tag\":[...]}, {\"alias\":[...]}, {\"user_id\":[...]}, {\"push_token\":[...]}"`
	Setting  pushworker.CampaignSetting  `json:"setting" doc:"request_id (deduplication), distribution_strategy (combined, mxpush_only, ospush_only)"`
	Message  *pushworker.CampaignMessage `json:"message" required:"true" doc:"type (text, image, cmd), title, body, big_text, attachment_url, badge (\"N\" sets, \"+N\" adds, default \"+1\"), ext, ios, android, fcm, huawei, honor, xiaomi, oppo, vivo, flyme"`
}

type notifyResult struct {
	TaskID int64 `json:"task_id"`
}

type taskDetailBody struct {
	List []int64 `json:"list" required:"true" doc:"task ids (at most 500)"`
}

type certificateResult struct {
	AppID       string `json:"app_id"`
	AppKey      string `json:"app_key" doc:"public identifier: APNs key id, FCM project id, the maker's app id (OPPO: app key)"`
	AppSecret   string `json:"app_secret" doc:"always empty: secrets never leave the server"`
	Certificate string `json:"certificate" doc:"the public APNs certificate (PEM) when certificate auth is used"`
	Name        string `json:"name" doc:"the certificate name: what devices bind with as notifier_name"`
}

func (s *Server) pushRoutes() []*Route {
	return []*Route{
		{
			Methods: []string{"POST"}, Path: "/push/notify", Group: "push", Access: AccessAdmin,
			Summary: "Send a push campaign to all devices, tags, aliases, users or push tokens",
			Body:    notifyBody{}, Result: notifyResult{},
			Errors: []int{CodeListTooLong},
			Handle: s.pushNotify,
		},
		{
			Methods: []string{"POST"}, Path: "/push/task/detail", Group: "push", Access: AccessAdmin,
			Summary: "Statistics of push campaigns: target, sent, received per channel",
			Body:    taskDetailBody{}, Result: []map[string]any{},
			Errors: []int{CodeListTooLong},
			Handle: s.pushTaskDetail,
		},
		{
			Methods: []string{"GET"}, Path: "/push/certificate", Group: "push", Access: AccessAdmin,
			Summary: "The app's push certificate of a provider and environment (public parts only)",
			Query: []Param{
				{Name: "provider", Type: "int32", Required: true, Desc: "1 APNs, 2 Huawei, 3 Xiaomi, 4 Meizu, 5 vivo, 6 OPPO, 7 FCM, 8 Honor (chatgate)"},
				{Name: "environment", Type: "int32", Desc: "0 development, 1 production (default 1); APNs and vivo (test pushes) only"},
			},
			Result: certificateResult{},
			Errors: []int{CodePushDisabled},
			Handle: s.pushCertificate,
		},
	}
}

func (s *Server) pushNotify(r *Req) (any, error) {
	var b notifyBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	aud, tooLong, err := pushworker.ParseAudience(b.Audience)
	if tooLong {
		return nil, Errf(CodeListTooLong, "audience: %v", err)
	}
	if err != nil {
		return nil, BadParam("audience", "%v", err)
	}
	if b.Message == nil {
		return nil, BadParam("message", "required")
	}
	c := pushworker.Campaign{Audience: aud, Setting: b.Setting, Message: *b.Message}
	if field, err := c.Validate(); err != nil {
		return nil, BadParam(field, "%v", err)
	}
	spec, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	cfg := s.deps.Push
	id, _, err := s.st.CreatePushTask(r.Ctx, r.App.ID, spec, c.Setting.RequestID, cfg.TaskTTL, cfg.RequestIDTTL, s.now())
	if err != nil {
		return nil, err
	}
	return notifyResult{TaskID: id}, nil
}

func (s *Server) pushTaskDetail(r *Req) (any, error) {
	var b taskDetailBody
	if err := r.Bind(&b); err != nil {
		return nil, err
	}
	switch {
	case len(b.List) == 0:
		return nil, BadParam("list", "at least one task id")
	case len(b.List) > pushworker.MaxAudienceList:
		return nil, Errf(CodeListTooLong, "list: %d task ids, at most %d", len(b.List), pushworker.MaxAudienceList)
	}
	tasks, err := s.st.PushTasks(r.Ctx, r.App.ID, b.List)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(tasks))
	for i, t := range tasks {
		if t == nil {
			// Unknown or expired (push.task_ttl): left out.
			continue
		}
		d := map[string]any{"task_id": b.List[i], "state": t.State}
		for _, ch := range store.PushChannels {
			for _, k := range []string{"_target", "_sent", "_received"} {
				d[ch+k] = t.Counters[ch+k]
			}
		}
		for _, k := range []string{"dropped", "errors", "no_credentials", "invalid", "dead", "duplicates", "deduplicated"} {
			d[k] = t.Counters[k]
		}
		out = append(out, d)
	}
	return out, nil
}

func (s *Server) pushCertificate(r *Req) (any, error) {
	provider, err := r.QueryInt32("provider", 0)
	if err != nil {
		return nil, err
	}
	env, err := r.QueryInt32("environment", 1)
	if err != nil {
		return nil, err
	}
	if env != 0 && env != 1 {
		return nil, BadParam("environment", "must be 0 (development) or 1 (production)")
	}
	if provider < 1 || provider > 8 {
		return nil, BadParam("provider", "must be 1-8")
	}
	name := pushcert.ByNumber(int(provider))
	certs, err := s.st.PushCredentials(r.Ctx, r.App.ID)
	if err != nil {
		return nil, err
	}
	// The environment's default certificate of the provider, else its
	// first; the environment only tells APNs and vivo certificates apart.
	var found *store.PushCredential
	for i, c := range certs {
		if c.Provider != name || ((name == pushcert.APNs || name == pushcert.Vivo) && c.Production != (env == 1)) {
			continue
		}
		if found == nil || c.Default && !found.Default {
			found = &certs[i]
		}
	}
	if found == nil {
		return nil, Errf(CodePushDisabled, "no %s certificate configured for this app and environment", name)
	}
	return certificateResult{AppID: r.App.ID, AppKey: found.Key, Certificate: found.Certificate, Name: found.Name}, nil
}
