package admin

import (
	"reflect"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/store"
)

// FuzzRequest drives REST request binding with arbitrary input: the body
// bound into the declared body type of every operation, the query read as
// every declared parameter, and the access-token and user_id headers
// authenticated. Nothing panics, and every refusal is a business error
// with its documented code (10002 for bad input), never an internal one.
//
// Seeds: testdata/fuzz/FuzzRequest. Run: go test -run=^$ -fuzz=FuzzRequest ./admin/
func FuzzRequest(f *testing.F) {
	s, err := New(config.Default().Admin, Deps{})
	if err != nil {
		f.Fatal(err)
	}
	app := &store.App{ID: "a", Secret: "secret-of-app-a-0123456789"}
	tok, _ := auth.Issue([]byte(app.Secret), "a", auth.RoleUser, 5, time.Hour, time.Now())
	f.Add([]byte(`{"list":[1,2],"revoke_tokens":true}`), "page_num=1&page_size=20", tok, "5")
	f.Add([]byte("{\"username\": \"a\xff\", \"password\": 1}"), "user_id=%FF&limit=-1", "x.y.z", "-1")
	f.Fuzz(func(t *testing.T, body []byte, query, token, userID string) {
		for _, rt := range s.routes.all {
			var hc fasthttp.RequestCtx
			hc.Request.SetBody(body)
			hc.Request.URI().SetQueryString(query)
			hc.Request.Header.Set("access-token", token)
			hc.Request.Header.Set("user_id", userID)
			r := &Req{HTTP: &hc, App: app, Route: rt}
			if rt.bodyType != nil {
				expectBusiness(t, rt, r.Bind(reflect.New(rt.bodyType).Interface()))
			}
			for _, p := range rt.Query {
				var err error
				switch p.Type {
				case "string":
					_, err = r.QueryString(p.Name, "")
				case "integer":
					_, err = r.QueryInt64(p.Name, 0)
				case "int32":
					_, err = r.QueryInt32(p.Name, 0)
				case "boolean":
					_, err = r.QueryBool(p.Name, false)
				}
				expectBusiness(t, rt, err)
			}
		}
		var hc fasthttp.RequestCtx
		hc.Request.Header.Set("access-token", token)
		hc.Request.Header.Set("user_id", userID)
		r := &Req{HTTP: &hc, App: app}
		if err := s.authenticate(r); err == nil && !r.Admin && r.UserID != 5 {
			t.Fatalf("user token of 5 acts as %d", r.UserID)
		} else {
			expectBusiness(t, nil, err)
		}
	})
}

func expectBusiness(t *testing.T, rt *Route, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if _, business := asError(err); !business {
		t.Fatalf("%v: internal error for client input: %v", rt, err)
	}
}
