package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/store"
)

type consoleUser struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
	Disabled bool   `json:"disabled"`
	Devices  []struct {
		DeviceSN int32  `json:"device_sn"`
		Online   bool   `json:"online"`
		Node     string `json:"node"`
	} `json:"devices"`
}

func TestConsoleUser(t *testing.T) {
	e := newEnv(t)
	uid := usrRegister(t, e, "console_anna")
	e.ok("PUT", "/user/mobile?mobile=13800000001", map[string]string{"user_id": fmt.Sprint(uid)}, nil)
	c := msgDial(t, e, uid, 3)

	find := func(q string) consoleUser {
		t.Helper()
		var u consoleUser
		e.ok("GET", "/console/api/user?q="+q, nil, nil).into(t, &u)
		return u
	}
	for _, q := range []string{fmt.Sprint(uid), "console_anna", "CONSOLE_ANNA", "13800000001"} {
		u := find(q)
		if u.UserID != uid || u.Username != "console_anna" || len(u.Devices) != 1 || !u.Devices[0].Online ||
			u.Devices[0].DeviceSN != 3 || u.Devices[0].Node != c.Hello().Node {
			t.Fatalf("q=%s: %+v (gateway %s)", q, u, c.Hello().Node)
		}
	}
	// Kicked: the device is offline once the gateway closed it.
	e.ok("POST", "/user/kick?device_sn=3", map[string]string{"user_id": fmt.Sprint(uid)}, nil)
	select {
	case <-c.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("kicked device still connected")
	}
	deadline := time.Now().Add(15 * time.Second)
	for u := find(fmt.Sprint(uid)); u.Devices[0].Online; u = find(fmt.Sprint(uid)) {
		if time.Now().After(deadline) {
			t.Fatalf("device still online after the kick: %+v", u)
		}
		time.Sleep(50 * time.Millisecond)
	}

	other := newEnv(t)
	userHdr := map[string]string{"access-token": e.userToken(uid)}
	tests := []struct {
		name string
		e    *env
		path string
		hdr  map[string]string
		code int
	}{
		{"no such id", e, "/console/api/user?q=999999999999", nil, 10000},
		{"no such name", e, "/console/api/user?q=nobody_here", nil, 10000},
		{"missing q", e, "/console/api/user", nil, 10002},
		{"blank q", e, "/console/api/user?q=%20%20", nil, 10002},
		{"oversize q", e, "/console/api/user?q=" + strings.Repeat("a", 257), nil, 10002},
		{"negative id is a name", e, "/console/api/user?q=-5", nil, 10000},
		{"user token", e, "/console/api/user?q=console_anna", userHdr, 10010},
		{"no token", e, "/console/api/user?q=console_anna", map[string]string{"access-token": ""}, 10003},
		{"bad token", e, "/console/api/user?q=console_anna", map[string]string{"access-token": "x.y.z"}, 10008},
		{"another app's admin", other, "/console/api/user?q=console_anna", nil, 10000},
		{"another app's admin by id", other, fmt.Sprintf("/console/api/user?q=%d", uid), nil, 10000},
		{"cluster with a user token", e, "/console/api/cluster", userHdr, 10010},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.e.t = t
			tt.e.wantCode(tt.code, "GET", tt.path, tt.hdr, nil)
		})
	}
}

func TestConsoleCluster(t *testing.T) {
	e := newEnv(t)
	type node struct {
		Node            string           `json:"node"`
		Roles           []string         `json:"roles"`
		Alive           bool             `json:"alive"`
		Connections     float64          `json:"connections"`
		PartitionsOwned float64          `json:"partitions_owned"`
		Lag             map[string]int64 `json:"lag"`
		Metrics         map[string]float64
	}
	var res struct {
		Partitions int    `json:"partitions"`
		Owned      int    `json:"owned"`
		Nodes      []node `json:"nodes"`
	}
	c := msgDial(t, e, usrRegister(t, e, "console_cluster"), 1)
	// The shared process reports every 5 s: wait for a report that shows
	// this connection and every partition owned.
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.ok("GET", "/console/api/cluster", nil, nil).into(t, &res)
		var me *node
		for i := range res.Nodes {
			if res.Nodes[i].Node == c.Hello().Node {
				me = &res.Nodes[i]
			}
		}
		if me != nil && me.Alive && me.Connections >= 1 && res.Owned == res.Partitions && res.Partitions == 4 &&
			me.PartitionsOwned == 4 && len(me.Roles) == 4 && me.Metrics["chatgate_gateway_connections"] == me.Connections {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster %+v", res)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A report of a killed process ages out: lost after 15 s, gone after 10 min.
func TestConsoleClusterLostNode(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	put := func(name string, at time.Time) {
		err := e.st.PutNodeStatus(context.Background(), store.NodeStatus{Node: name, Roles: []string{"gateway"}, Updated: at.UnixMilli(),
			Metrics: map[string]float64{"chatgate_gateway_connections": 5}})
		if err != nil {
			t.Fatal(err)
		}
	}
	lost, gone := fmt.Sprintf("lost-%d", now.UnixNano()), fmt.Sprintf("gone-%d", now.UnixNano())
	put(lost, now.Add(-time.Minute))
	put(gone, now.Add(-time.Hour))
	var res struct {
		Nodes []struct {
			Node  string `json:"node"`
			Alive bool   `json:"alive"`
		} `json:"nodes"`
	}
	e.ok("GET", "/console/api/cluster", nil, nil).into(t, &res)
	seen := map[string]bool{}
	for _, n := range res.Nodes {
		seen[n.Node] = true
		if n.Node == lost && n.Alive {
			t.Error("a report a minute old is alive")
		}
	}
	if !seen[lost] || seen[gone] {
		t.Fatalf("nodes %+v", res.Nodes)
	}
}

func TestConsoleStatic(t *testing.T) {
	base := "http://" + shared.info.AdminAddr
	get := func(method, path string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	for _, tt := range []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/console", 200, "text/html", "<title>chatgate console</title>"},
		{"GET", "/console/", 200, "text/html", "login-form"},
		{"GET", "/console/console.js", 200, "javascript", "async function api("},
		{"GET", "/console/console.css", 200, "text/css", "body {"},
		{"HEAD", "/console/console.css", 200, "text/css", ""},
		{"GET", "/console/missing.js", 404, "text/plain", "not found"},
		{"GET", "/console/../admin/console.go", 404, "", ""},
		{"GET", "/console/%2e%2e/server.go", 404, "", ""},
		{"POST", "/console/", 405, "", ""},
		{"GET", "/consolex", 404, "", ""},
	} {
		status, h, body := get(tt.method, tt.path)
		if status != tt.status || !strings.Contains(h.Get("Content-Type"), tt.ctype) || !strings.Contains(body, tt.body) {
			t.Errorf("%s %s: %d %q %.80q", tt.method, tt.path, status, h.Get("Content-Type"), body)
		}
		if status == 200 && (!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") || h.Get("X-Frame-Options") != "DENY") {
			t.Errorf("%s: security headers %v", tt.path, h)
		}
	}
}
