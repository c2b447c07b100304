package server

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	// The avatar upload's commands use the URLs of the first one's answer,
	// and a file avatar.png in the current directory.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "avatar.png"), []byte("\x89PNG not really"), 0o600); err != nil {
		t.Fatal(err)
	}
	var urls struct {
		Upload   string `json:"upload_url"`
		Download string `json:"download_url"`
	}
	for _, line := range strings.Split(out, "\n") {
		cmd := strings.TrimSpace(line)
		if !strings.HasPrefix(cmd, "curl ") {
			continue
		}
		cmd = strings.ReplaceAll(cmd, "<upload_url of the answer>", urls.Upload)
		cmd = strings.ReplaceAll(cmd, "<download_url of the answer>", urls.Download)
		c := exec.Command("sh", "-c", cmd+" -sS")
		c.Dir = dir
		got, err := c.Output()
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		var env struct {
			Code int             `json:"code"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(got, &env); err != nil || env.Code != 200 {
			t.Fatalf("%s\nanswered %s", cmd, got)
		}
		if strings.Contains(cmd, "/file/upload/avatar/user") {
			if err := json.Unmarshal(env.Data, &urls); err != nil || urls.Upload == "" {
				t.Fatalf("upload answer %s", got)
			}
		}
		ran++
	}
	// register, profile, message/send, group/create, and the three of the avatar upload
	if ran != 7 {
		t.Fatalf("%d curl commands in the dev block, want 7:\n%s", ran, out)
	}
}
