package server

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestDevUsers checks what the dev block promises about the REST API: users
// 1 and 2 are registered users whose printed passwords log in, and the
// printed curl commands work as pasted.
func TestDevUsers(t *testing.T) {
	cfg := testConfig()
	cfg.Admin.PasswordCost = 4
	r := start(t, cfg, Options{})
	out := r.stdout.String()
	api := "http://" + r.info.AdminAddr
	if !strings.Contains(out, "REST API:       "+api) {
		t.Fatalf("dev block lacks the REST API address:\n%s", out)
	}
	for uid, name := range map[int64]string{1: "alice", 2: "bob"} {
		u := r.info.Dev.Users[uid]
		if u.Username != name || len(u.Password) < 8 {
			t.Fatalf("dev user %d = %+v", uid, u)
		}
		login := tokenAfter(t, out, "User "+strconv.FormatInt(uid, 10)+" login:")
		if login != "username "+name+", password "+u.Password {
			t.Fatalf("printed login %q", login)
		}
		body := `{"name":"` + name + `","password":"` + u.Password + `"}`
		req, _ := http.NewRequest("POST", api+"/token/user", strings.NewReader(body))
		req.Header["app_id"] = []string{"demo"}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Code int `json:"code"`
			Data struct {
				UserID int64 `json:"user_id"`
			} `json:"data"`
		}
		err = json.NewDecoder(res.Body).Decode(&env)
		res.Body.Close()
		if err != nil || env.Code != 200 || env.Data.UserID != uid {
			t.Fatalf("login as %s: code %d user %d (%v)", name, env.Code, env.Data.UserID, err)
		}
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl on this machine")
	}
	var ran int
	for _, line := range strings.Split(out, "\n") {
		cmd := strings.TrimSpace(line)
		if !strings.HasPrefix(cmd, "curl ") {
			continue
		}
		got, err := exec.Command("sh", "-c", cmd+" -sS").Output()
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		var env struct {
			Code int `json:"code"`
		}
		if err := json.Unmarshal(got, &env); err != nil || env.Code != 200 {
			t.Fatalf("%s\nanswered %s", cmd, got)
		}
		ran++
	}
	// register, profile, message/send, group/create
	if ran != 4 {
		t.Fatalf("%d curl commands in the dev block, want 4:\n%s", ran, out)
	}
}
