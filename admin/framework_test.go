package admin_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/auth"
)

var update = flag.Bool("update", false, "rewrite admin/openapi.json from the route table")

func TestEnvelopeAndAuth(t *testing.T) {
	e := newEnv(t)
	other := newEnv(t)
	const path = "/user/settings"
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		code   int
		http   int
	}{
		{"unknown path", "GET", "/nope", nil, 40404, 404},
		{"wrong method", "DELETE", path, nil, 40404, 405},
		{"no app_id", "GET", path, map[string]string{"app_id": ""}, 40000, 200},
		{"unknown app", "GET", path, map[string]string{"app_id": "no_such_app"}, 40000, 200},
		{"no token", "GET", path, map[string]string{"access-token": ""}, 10003, 200},
		{"garbage token", "GET", path, map[string]string{"access-token": "x.y.z"}, 10008, 200},
		{"token of another app", "GET", path, map[string]string{"access-token": other.admin}, 10008, 200},
		{"admin without user_id", "GET", path, nil, 10002, 200},
		{"bad user_id header", "GET", path, map[string]string{"user_id": "abc"}, 10002, 200},
		{"user token as another user", "GET", path, map[string]string{"access-token": e.userToken(5), "user_id": "6"}, 10010, 200},
		{"user that does not exist", "GET", path, map[string]string{"access-token": e.userToken(5)}, 10000, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(tt.method, tt.path, tt.hdr, nil)
			if r.Code != tt.code || r.HTTP != tt.http {
				t.Fatalf("got HTTP %d code %d %q, want HTTP %d code %d", r.HTTP, r.Code, r.Message, tt.http, tt.code)
			}
			if r.Message == "" {
				t.Error("error without a message")
			}
		})
	}
	// An expired token is refused like a forged one.
	expired, err := auth.Issue([]byte(e.secret), e.app, auth.RoleAdmin, 0, -1, timeNow())
	if err == nil {
		r := e.call("GET", path, map[string]string{"access-token": expired, "user_id": "1"}, nil)
		if r.Code != 10008 {
			t.Errorf("expired token: code %d", r.Code)
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t)
	// The server answers as soon as it sees the Content-Length, so the
	// body is never sent: a client still writing would see a reset.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /user/register/v2 HTTP/1.1\r\nHost: x\r\napp_id: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", e.app, 2<<20)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env resp
	if err := json.Unmarshal(readAll(t, res.Body), &env); err != nil || env.Code != 40013 {
		t.Fatalf("HTTP %d code %d (%v), want 40013", res.StatusCode, env.Code, err)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	res, err := e.hc.Get(e.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	raw := readAll(t, res.Body)
	if err := json.Unmarshal(raw, &doc); err != nil || doc.OpenAPI == "" {
		t.Fatalf("not an OpenAPI document: %v", err)
	}
	const file = "openapi.json"
	if *update {
		if err := os.WriteFile(file, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run: go test ./admin -run OpenAPI -update)", err)
	}
	if string(kept) != string(raw) {
		t.Fatalf("admin/openapi.json is out of date: run go test ./admin -run OpenAPI -update")
	}
}
