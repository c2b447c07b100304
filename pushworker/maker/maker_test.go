package maker_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/fakepush"
	"github.com/chatgate/chatgate/pushworker/maker"
)

// fake starts the fake push server; the clients trust its CA.
func fake(t *testing.T) (*fakepush.Server, *x509.CertPool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := fakepush.Start(ctx, fakepush.Options{KeepPayloads: true})
	if err != nil {
		t.Fatal(err)
	}
	return s, s.CertPool
}

// client is a real client of provider's fake; wrong breaks its secret.
func client(t *testing.T, s *fakepush.Server, ca *x509.CertPool, provider string, wrong bool) maker.Client {
	t.Helper()
	c := s.Credentials(provider)
	cfg := maker.Config{AppID: c.AppID, AppKey: c.AppKey, AppSecret: c.AppSecret, MasterSecret: c.MasterSecret, ClientID: c.ClientID,
		ClientSecret: c.ClientSecret, PackageName: c.PackageName, IMChannelID: "im-channel", Production: true,
		Endpoint: s.Endpoint(provider), AuthEndpoint: s.AuthEndpoint(provider), RootCAs: ca, Timeout: 5 * time.Second}
	if wrong {
		cfg.AppSecret, cfg.MasterSecret, cfg.ClientSecret = "wrong", "wrong", "wrong"
	}
	cl, err := maker.New(provider, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func chat() *maker.Message {
	return &maker.Message{Title: "anna", Body: "hello", IM: true, Data: map[string]string{"msg_id": "1", "conv": "u:1"},
		Tag: "u:1", ID: "m1", PushMode: -1, Classification: -1, Badge: 3, HasBadge: true}
}

func send(t *testing.T, cl maker.Client, m *maker.Message, tokens ...string) []maker.Result {
	t.Helper()
	body, err := cl.Encode(m)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	res := cl.Send(context.Background(), body, tokens)
	if len(res) != len(tokens) {
		t.Fatalf("%d results for %d tokens", len(res), len(tokens))
	}
	return res
}

// TestMakers drives every maker's real client against its fake: success,
// a dead token, throttling, a server error, a stale access token, bad
// credentials and the daily quota, each classified as the worker needs.
func TestMakers(t *testing.T) {
	s, ca := fake(t)
	for _, p := range fakepush.Makers {
		t.Run(p, func(t *testing.T) {
			cl := client(t, s, ca, p, false)
			// vivo sends one device per request.
			toks := []string{p + "-a", p + "-b"}
			if cl.MaxTokens() == 1 {
				toks = toks[:1]
			}
			for _, r := range send(t, cl, chat(), toks...) {
				if r.Kind != maker.OK {
					t.Fatalf("success: %+v", r)
				}
			}
			for _, tok := range toks {
				if s.Count(p, tok) != 1 {
					t.Fatalf("fake got %d pushes to %s", s.Count(p, tok), tok)
				}
			}

			s.FailToken(p, toks[0], fakepush.Fault{Status: http.StatusGone, Times: 1})
			if r := send(t, cl, chat(), toks...); r[0].Kind != maker.Invalid || (len(r) > 1 && r[1].Kind != maker.OK) {
				t.Fatalf("dead token: %+v", r)
			}

			s.FailNext(p, fakepush.Fault{Status: http.StatusTooManyRequests, Times: 1})
			if r := send(t, cl, chat(), toks...)[0]; r.Kind != maker.Retry || !r.Throttled || r.Pause <= 0 {
				t.Fatalf("throttled: %+v", r)
			}

			s.FailNext(p, fakepush.Fault{Status: http.StatusInternalServerError, Times: 1})
			if r := send(t, cl, chat(), toks...)[0]; r.Kind != maker.Retry || r.Throttled {
				t.Fatalf("server error: %+v", r)
			}

			// A revoked access token is refreshed once and the send goes on.
			s.RevokeAccessTokens()
			if r := send(t, cl, chat(), toks...)[0]; r.Kind != maker.OK {
				t.Fatalf("after revoking access tokens: %+v", r)
			}

			bad := client(t, s, ca, p, true)
			before := s.AuthRequests(p)
			for i := 0; i < 3; i++ {
				if r := send(t, bad, chat(), toks...)[0]; r.Kind != maker.Fail || !r.Auth {
					t.Fatalf("bad credentials: %+v", r)
				}
			}
			// Refused credentials are not asked again at once: no storm.
			if n := s.AuthRequests(p) - before; n > 1 {
				t.Fatalf("%d token requests for 3 sends with refused credentials", n)
			}
		})
	}
}

// TestQuota: OPPO's and vivo's daily-quota answers pause until the
// maker's next day.
func TestQuota(t *testing.T) {
	s, ca := fake(t)
	for _, p := range []string{fakepush.OPPO, fakepush.Vivo} {
		cl := client(t, s, ca, p, false)
		s.SetQuota(p, 1)
		if r := send(t, cl, chat(), "q1")[0]; r.Kind != maker.OK {
			t.Fatalf("%s first: %+v", p, r)
		}
		r := send(t, cl, chat(), "q2")[0]
		if r.Kind != maker.Retry || !r.Throttled || r.Pause < time.Second || r.Pause > 24*time.Hour {
			t.Fatalf("%s over quota: %+v", p, r)
		}
	}
}

// TestPayloadMapping: the /push/notify block options and the chat-message
// class reach each maker's request as its API names them.
func TestPayloadMapping(t *testing.T) {
	s, ca := fake(t)
	campaign := &maker.Message{Title: "Sale", Body: "50% off", BigText: "long text", Sound: "ding", ChannelID: "promo",
		ClickAction: "intent", Intent: "intent:#Intent;component=com.example/.Main;end", BadgeClass: "com.example.Main",
		Badge: 7, HasBadge: true, PushMode: 1, Classification: 0, ID: "t1", Data: map[string]string{"task_id": "1"}}
	tests := []struct {
		provider string
		msg      *maker.Message
		want     []string
	}{
		{fakepush.Huawei, chat(), []string{`"category":"IM"`, `"tag":"u:1"`, `"click_action":{"type":3}`}},
		{fakepush.Huawei, campaign, []string{`"channel_id":"promo"`, `"sound":"ding"`, `"type":1`, `"intent":"intent:#Intent;component=com.example/.Main;end"`,
			`"badge":{"class":"com.example.Main","set_num":7}`, `"big_body":"long text"`}},
		{fakepush.Honor, chat(), []string{`"importance":"NORMAL"`}},
		{fakepush.Honor, campaign, []string{`"importance":"LOW"`, `"badge":{"badgeClass":"com.example.Main","setNum":7}`, `"clickAction":{"type":1`}},
		{fakepush.Xiaomi, chat(), []string{`"extra.channel_id":"im-channel"`, `"pass_through":"0"`, `"title":"anna"`}},
		{fakepush.Xiaomi, campaign, []string{`"extra.channel_id":"promo"`, `"extra.sound_uri":"ding"`, `"extra.notify_effect":"2"`, `"extra.intent_uri":"intent:#Intent;component=com.example/.Main;end"`}},
		{fakepush.OPPO, chat(), []string{`\"category\":\"IM\"`, `\"channel_id\":\"im-channel\"`, `\"notify_level\":16`}},
		{fakepush.OPPO, campaign, []string{`\"category\":\"MARKETING\"`, `\"channel_id\":\"promo\"`, `\"click_action_type\":5`}},
		{fakepush.Vivo, chat(), []string{`"classification":1`, `"category":"IM"`}},
		{fakepush.Vivo, campaign, []string{`"classification":0`, `"pushMode":1`, `"skipType":4`}},
		{fakepush.Meizu, campaign, []string{`"clickType":1`, `"noticeExpandContent":"long text"`}},
	}
	for i, tc := range tests {
		cl := client(t, s, ca, tc.provider, false)
		tok := tc.provider + "-map-" + string(rune('a'+i))
		if r := send(t, cl, tc.msg, tok)[0]; r.Kind != maker.OK {
			t.Fatalf("%s: %+v", tc.provider, r)
		}
		got := s.Received(tc.provider, tok)
		if len(got) != 1 {
			t.Fatalf("%s: fake kept %d payloads", tc.provider, len(got))
		}
		body := string(got[0].Payload)
		if tc.provider == fakepush.OPPO {
			b, _ := json.Marshal(body)
			body = string(b)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s (case %d): payload lacks %s:\n%s", tc.provider, i, w, body)
			}
		}
	}
}

// TestRefusals: what a maker cannot carry is refused before sending.
func TestRefusals(t *testing.T) {
	s, ca := fake(t)
	for _, p := range []string{fakepush.OPPO, fakepush.Vivo, fakepush.Meizu} {
		if _, err := client(t, s, ca, p, false).Encode(&maker.Message{Silent: true, PushMode: -1, Classification: -1}); err != maker.ErrSilentUnsupported {
			t.Errorf("%s silent push: %v", p, err)
		}
	}
	big := chat()
	big.Data = map[string]string{"ext": strings.Repeat("x", maker.MaxPayload)}
	for _, p := range fakepush.Makers {
		if _, err := client(t, s, ca, p, false).Encode(big); err != maker.ErrTooLarge {
			t.Errorf("%s oversize: %v", p, err)
		}
	}
	if _, err := maker.New("nokia", maker.Config{}); err == nil {
		t.Error("unknown maker accepted")
	}
}
