package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/chatgate/chatgate/client"
	"github.com/chatgate/chatgate/objstore/upload"
	"github.com/chatgate/chatgate/protocol"
	"github.com/chatgate/chatgate/store"
)

type uploadAnswer struct {
	DownloadURL  string            `json:"download_url"`
	OSSBodyParam map[string]string `json:"oss_body_param"`
	UploadMethod string            `json:"upload_method"`
	UploadURL    string            `json:"upload_url"`
}

// fileUpload asks for an upload URL and sends body to it.
func fileUpload(t *testing.T, e *env, path string, hdr map[string]string, body []byte) uploadAnswer {
	t.Helper()
	var a uploadAnswer
	e.ok("GET", path, hdr, nil).into(t, &a)
	if a.UploadMethod != "PUT" || a.DownloadURL == "" {
		t.Fatalf("upload answer %+v", a)
	}
	if _, err := upload.Send(context.Background(), e.hc, upload.Target{URL: a.UploadURL, Method: a.UploadMethod, Fields: a.OSSBodyParam},
		bytes.NewReader(body), int64(len(body)), "f", ""); err != nil {
		t.Fatalf("upload: %v", err)
	}
	return a
}

// fileGet follows a download URL as a client does: with the app's headers
// to the REST API, then without them to the signed URL it redirects to.
// It returns the REST envelope code and, on 200, the bytes.
func fileGet(t *testing.T, e *env, downloadURL, query string, hdr map[string]string) (int, []byte) {
	t.Helper()
	u := downloadURL + query
	req, _ := http.NewRequest("GET", u, nil)
	h := map[string]string{"app_id": e.app, "access-token": e.admin}
	for k, v := range hdr {
		h[k] = v
	}
	for k, v := range h {
		if v != "" {
			req.Header[k] = []string{v}
		}
	}
	noFollow := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := readAll(t, res.Body)
	res.Body.Close()
	var env struct {
		Code int    `json:"code"`
		Data string `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("GET %s: HTTP %d %q", u, res.StatusCode, raw)
	}
	if env.Code != 200 {
		return env.Code, nil
	}
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != env.Data {
		t.Fatalf("download: HTTP %d, Location %q, data %q", res.StatusCode, res.Header.Get("Location"), env.Data)
	}
	got, err := http.Get(env.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	b, _ := io.ReadAll(got.Body)
	if got.StatusCode != 200 {
		t.Fatalf("signed URL: HTTP %d %s", got.StatusCode, b)
	}
	return 200, b
}

// fileGroup makes a group owned by owner with members.
func fileGroup(t *testing.T, e *env, gid, owner int64, members ...int64) {
	t.Helper()
	ctx := context.Background()
	if err := e.st.AddGroupMembers(ctx, e.app, gid, append([]int64{owner}, members...)...); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.HSet(ctx, store.GroupInfoKey(e.app, gid), "owner", owner).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestFileChatUploadDownload(t *testing.T) {
	e := newEnv(t)
	a, b, c := rosUser(t, e, "fa", 0), rosUser(t, e, "fb", 0), rosUser(t, e, "fc", 0)
	data := bytes.Repeat([]byte{1, 2, 3, 4, 5}, 20_000)
	up := fileUpload(t, e, "/file/upload/chat?file_type=100&to_id="+strconv.FormatInt(b, 10), asUser(e, a), data)

	// Who may download a one-to-one chat file.
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		code int
	}{
		{"sender", asUser(e, a), 200},
		{"recipient", asUser(e, b), 200},
		{"admin token", nil, 200},
		{"admin for a user", as(c), 200},
		{"third user", asUser(e, c), 10010},
		{"no token", map[string]string{"access-token": ""}, 10003},
		{"another app's token", map[string]string{"app_id": newEnv(t).app}, 10008},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, got := fileGet(t, e, up.DownloadURL, "", tc.hdr)
			if code != tc.code {
				t.Fatalf("code %d, want %d", code, tc.code)
			}
			if code == 200 && !bytes.Equal(got, data) {
				t.Fatalf("downloaded %d bytes, differ", len(got))
			}
		})
	}
	// Forward: b copies it to c; c reads the copy, still not the original.
	var fwd string
	sign := url.QueryEscape(mustQuery(t, up.DownloadURL, "file_sign"))
	e.ok("GET", "/file/upload/forward?file_sign="+sign+"&to_id="+strconv.FormatInt(c, 10), asUser(e, b), nil).into(t, &fwd)
	if code, got := fileGet(t, e, fwd, "", asUser(e, c)); code != 200 || !bytes.Equal(got, data) {
		t.Fatalf("forwarded copy: %d", code)
	}
	e.wantCode(10010, "GET", "/file/upload/forward?file_sign="+sign+"&to_id="+strconv.FormatInt(a, 10), asUser(e, c), nil)
	e.wantCode(40410, "GET", "/file/upload/forward?file_sign=c%2Fnope&to_id=1", asUser(e, b), nil)

	// Errors of the upload operation.
	e.wantCode(10002, "GET", "/file/upload/chat?file_type=99&to_id="+strconv.FormatInt(b, 10), asUser(e, a), nil)
	e.wantCode(10002, "GET", "/file/upload/chat?file_type=100", asUser(e, a), nil)
	e.wantCode(10002, "GET", "/file/upload/chat?file_type=100&to_id=x", asUser(e, a), nil)
	e.wantCode(10002, "GET", "/file/upload/chat?file_type=100&to_id=5&to_type=3", asUser(e, a), nil)
	e.wantCode(10000, "GET", "/file/upload/chat?file_type=100&to_id=999999999", asUser(e, a), nil)
	e.wantCode(10002, "GET", "/file/upload/chat?file_type=200&to_id="+strconv.FormatInt(b, 10), asUser(e, a), nil)
	// Download errors.
	if code, _ := fileGet(t, e, up.DownloadURL, "&image_type=3", nil); code != 10002 {
		t.Fatalf("cover: %d", code)
	}
	if code, _ := fileGet(t, e, up.DownloadURL, "&format=wav", nil); code != 10002 {
		t.Fatalf("format: %d", code)
	}
	if code, _ := fileGet(t, e, up.DownloadURL, "&w=abc", nil); code != 10002 {
		t.Fatalf("w: %d", code)
	}
	if code, _ := fileGet(t, e, e.base+"/file/download/chat?file_sign=..%2F..%2Fetc", "", nil); code != 40410 {
		t.Fatalf("traversal: %d", code)
	}
	// A chat file is not an avatar.
	if code, _ := fileGet(t, e, e.base+"/file/download/avatar?object_name="+sign, "", nil); code != 40410 {
		t.Fatalf("chat file as avatar: %d", code)
	}
}

func mustQuery(t *testing.T, raw, name string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(name)
}

func TestFileAvatars(t *testing.T) {
	e := newEnv(t)
	a, b, c := rosUser(t, e, "va", 0), rosUser(t, e, "vb", 0), rosUser(t, e, "vc", 0)
	img := pngOf(t, 40, 30)
	up := fileUpload(t, e, "/file/upload/avatar/user", asUser(e, a), img)
	e.ok("POST", "/user/avatar", asUser(e, a), map[string]string{"avatar": up.DownloadURL})
	// Any token of the app reads avatars; another app's does not.
	if code, got := fileGet(t, e, up.DownloadURL, "", asUser(e, b)); code != 200 || !bytes.Equal(got, img) {
		t.Fatalf("avatar: %d", code)
	}
	if code, _ := fileGet(t, e, up.DownloadURL, "", map[string]string{"app_id": newEnv(t).app}); code != 10008 {
		t.Fatalf("other app: %d", code)
	}
	// The admin token names the user; without one it is refused.
	e.wantCode(10002, "GET", "/file/upload/avatar/user", nil, nil)
	e.ok("GET", "/file/upload/avatar/user", as(b), nil)

	// Group avatars: the owner (and admin tokens); members 20012,
	// non-members 20002, missing groups 20001.
	const gid = 7001
	fileGroup(t, e, gid, a, b)
	g := "/file/upload/avatar/group?group_id=" + strconv.Itoa(gid)
	gup := fileUpload(t, e, g, asUser(e, a), img)
	e.ok("GET", g, nil, nil)
	e.wantCode(20012, "GET", g, asUser(e, b), nil)
	e.wantCode(20002, "GET", g, asUser(e, c), nil)
	e.wantCode(20001, "GET", "/file/upload/avatar/group?group_id=7999", asUser(e, a), nil)
	e.wantCode(10002, "GET", "/file/upload/avatar/group", asUser(e, a), nil)
	if code, got := fileGet(t, e, gup.DownloadURL, "", asUser(e, c)); code != 200 || !bytes.Equal(got, img) {
		t.Fatalf("group avatar: %d", code)
	}
}

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			m.Set(x, y, color.RGBA{uint8(x * 5), uint8(y * 7), 100, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFileThumbnails(t *testing.T) {
	e := newEnv(t)
	a, b := rosUser(t, e, "ta", 0), rosUser(t, e, "tb", 0)
	src := image.NewRGBA(image.Rect(0, 0, 800, 400))
	for x := 0; x < 800; x++ {
		src.Set(x, x%400, color.RGBA{200, 10, 10, 255})
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, src, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, format string
		body         []byte
		query        string
		w, h         int
	}{
		{"png fit width", "png", pngOf(t, 300, 150), "&w=100&h=100", 100, 50},
		{"png fit height", "png", pngOf(t, 300, 150), "&h=30", 60, 30},
		{"jpeg", "jpeg", jpg.Bytes(), "&w=200&h=200", 200, 100},
		{"jpeg never enlarged", "jpeg", jpg.Bytes(), "&w=1024&h=1024", 800, 400},
		{"jpeg default size", "jpeg", jpg.Bytes(), "", 200, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := fileUpload(t, e, "/file/upload/chat?file_type=102&to_id="+strconv.FormatInt(b, 10), asUser(e, a), tc.body)
			for i := 0; i < 2; i++ { // the second time from the cache
				code, got := fileGet(t, e, up.DownloadURL, "&image_type=2"+tc.query, asUser(e, b))
				if code != 200 {
					t.Fatalf("thumbnail: code %d", code)
				}
				cfg, format, err := image.DecodeConfig(bytes.NewReader(got))
				if err != nil || format != tc.format || cfg.Width != tc.w || cfg.Height != tc.h {
					t.Fatalf("thumbnail %s %dx%d (%v), want %s %dx%d", format, cfg.Width, cfg.Height, err, tc.format, tc.w, tc.h)
				}
			}
		})
	}
	// A file that is no image gets 10002, not a crash.
	up := fileUpload(t, e, "/file/upload/chat?file_type=100&to_id="+strconv.FormatInt(b, 10), asUser(e, a), []byte("not an image"))
	if code, _ := fileGet(t, e, up.DownloadURL, "&image_type=2", nil); code != 10002 {
		t.Fatalf("thumbnail of text: %d", code)
	}
}

type groupFile struct {
	FileID   int64  `json:"file_id"`
	GroupID  int64  `json:"group_id"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	Type     string `json:"type"`
	URL      string `json:"url"`
	Uploader int64  `json:"uploader"`
}

func TestGroupFiles(t *testing.T) {
	e := newEnv(t)
	owner, up1, member, outsider := rosUser(t, e, "go", 0), rosUser(t, e, "gu", 0), rosUser(t, e, "gm", 0), rosUser(t, e, "gx", 0)
	const gid = 8001
	fileGroup(t, e, gid, owner, up1, member)
	g := strconv.Itoa(gid)
	data := []byte("the group's shared document")

	// A member uploads into the group, then declares the shared file.
	up := fileUpload(t, e, "/file/upload/chat?file_type=200&to_type=2&to_id="+g, asUser(e, up1), data)
	e.wantCode(20002, "GET", "/file/upload/chat?file_type=200&to_type=2&to_id="+g, asUser(e, outsider), nil)
	e.wantCode(20001, "GET", "/file/upload/chat?file_type=200&to_type=2&to_id=8999", asUser(e, up1), nil)
	var f groupFile
	e.ok("POST", "/group/file/upload", asUser(e, up1),
		map[string]any{"group_id": gid, "name": "doc.txt", "size": 1, "type": "txt", "url": up.DownloadURL}).into(t, &f)
	if f.FileID == 0 || f.Size != int64(len(data)) || f.Uploader != up1 || f.Name != "doc.txt" {
		t.Fatalf("group file %+v", f)
	}
	// An external URL is kept as given; a chatgate file of another
	// conversation is refused.
	e.ok("POST", "/group/file/upload", asUser(e, member),
		map[string]any{"group_id": gid, "name": "ext", "size": 5, "url": "https://example.com/x.pdf"})
	other := fileUpload(t, e, "/file/upload/chat?file_type=100&to_id="+strconv.FormatInt(owner, 10), asUser(e, member), data)
	e.wantCode(10002, "POST", "/group/file/upload", asUser(e, member),
		map[string]any{"group_id": gid, "name": "x", "size": 1, "url": other.DownloadURL})
	e.wantCode(10002, "POST", "/group/file/upload", asUser(e, member),
		map[string]any{"group_id": gid, "name": "x", "size": 1, "url": "ftp://x"})
	e.wantCode(10002, "POST", "/group/file/upload", asUser(e, member), map[string]any{"group_id": gid, "size": 1, "url": "https://a/b"})
	e.wantCode(10002, "POST", "/group/file/upload", asUser(e, member), `{"group_id": "x"}`)
	e.wantCode(20002, "POST", "/group/file/upload", asUser(e, outsider),
		map[string]any{"group_id": gid, "name": "x", "size": 1, "url": "https://a/b"})

	// Reading: members and admin tokens; not outsiders; not other apps.
	id := strconv.FormatInt(f.FileID, 10)
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		code int
	}{
		{"owner", asUser(e, owner), 200}, {"member", asUser(e, member), 200}, {"admin token", nil, 200},
		{"outsider", asUser(e, outsider), 20002}, {"other app", map[string]string{"app_id": newEnv(t).app}, 10008},
	} {
		t.Run("read "+tc.name, func(t *testing.T) {
			e.wantCode(tc.code, "GET", "/group/file?group_id="+g+"&file_id="+id, tc.hdr, nil)
			r := e.wantCode(tc.code, "GET", "/group/file/list?group_id="+g, tc.hdr, nil)
			if tc.code == 200 {
				var list []groupFile
				r.into(t, &list)
				if len(list) != 2 || list[1].FileID != f.FileID {
					t.Fatalf("list %+v", list)
				}
				code, got := fileGet(t, e, f.URL, "", tc.hdr)
				if code != 200 || !bytes.Equal(got, data) {
					t.Fatalf("download: %d", code)
				}
			}
		})
	}
	e.wantCode(20022, "GET", "/group/file?group_id="+g+"&file_id=999", asUser(e, member), nil)
	e.wantCode(20001, "GET", "/group/file/list?group_id=8999", asUser(e, member), nil)
	e.wantCode(10002, "GET", "/group/file/list?group_id="+g+"&page_size=101", asUser(e, member), nil)
	var page []groupFile
	e.ok("GET", "/group/file/list?group_id="+g+"&page_size=1&page_num=2", asUser(e, member), nil).into(t, &page)
	if len(page) != 1 || page[0].FileID != f.FileID {
		t.Fatalf("page 2: %+v", page)
	}

	// Renaming: uploader, owner, admin token; a plain member gets 20023.
	rename := func(hdr map[string]string, code int, name string) {
		t.Helper()
		e.wantCode(code, "POST", "/group/file/update_name", hdr, map[string]any{"group_id": gid, "file_id": f.FileID, "name": name})
	}
	rename(asUser(e, member), 20023, "m")
	rename(asUser(e, outsider), 20002, "x")
	rename(asUser(e, up1), 200, "by-uploader")
	rename(asUser(e, owner), 200, "by-owner")
	rename(nil, 200, "by-admin")
	rename(asUser(e, owner), 10002, "")
	e.wantCode(20022, "PUT", "/group/file/update_name", asUser(e, owner), map[string]any{"group_id": gid, "file_id": 999, "name": "n"})
	var got groupFile
	e.ok("GET", "/group/file?group_id="+g+"&file_id="+id, asUser(e, member), nil).into(t, &got)
	if got.Name != "by-admin" {
		t.Fatalf("name %q", got.Name)
	}

	// Deleting: per file; the member's attempt fails with 20023, a
	// missing id with 20022, the owner's succeeds.
	var res []struct {
		FileID int64  `json:"file_id"`
		Reason string `json:"reason"`
		Result string `json:"result"`
	}
	e.ok("POST", "/group/file/delete", asUser(e, member), map[string]any{"group_id": gid, "file_list": []int64{f.FileID, 999}}).into(t, &res)
	if len(res) != 2 || res[0].Result != "fail" || res[0].Reason[:5] != "20023" || res[1].Reason[:5] != "20022" {
		t.Fatalf("member delete %+v", res)
	}
	e.wantCode(20002, "DELETE", "/group/file/delete", asUser(e, outsider), map[string]any{"group_id": gid, "file_list": []int64{f.FileID}})
	e.wantCode(10002, "DELETE", "/group/file/delete", asUser(e, owner), map[string]any{"group_id": gid, "file_list": []int64{}})
	e.ok("DELETE", "/group/file/delete", asUser(e, owner), map[string]any{"group_id": gid, "file_list": []int64{f.FileID}}).into(t, &res)
	if len(res) != 1 || res[0].Result != "success" {
		t.Fatalf("owner delete %+v", res)
	}
	e.wantCode(20022, "GET", "/group/file?group_id="+g+"&file_id="+id, asUser(e, member), nil)
	// The object is scheduled for removal.
	n, err := e.rdb.ZCard(context.Background(), store.FilesDoomedKey(e.app)).Result()
	if err != nil || n != 1 {
		t.Fatalf("scheduled removals %d %v", n, err)
	}
}

// TestFileMessageEndToEnd: a client asks for an upload URL, uploads, sends
// a file message over its socket; the other client receives it and
// downloads the same bytes with its own token.
func TestFileMessageEndToEnd(t *testing.T) {
	e := newEnv(t)
	a, b := rosUser(t, e, "ea", 0), rosUser(t, e, "eb", 0)
	ca, cb := msgDial(t, e, a, 1), msgDial(t, e, b, 1)
	path := t.TempDir() + "/report.pdf"
	data := bytes.Repeat([]byte("%PDF chatgate "), 30_000)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fm, err := client.UploadFile(ctx, &client.API{Base: e.base, AppID: e.app, Token: e.userToken(a)}, b, 0, path)
	if err != nil {
		t.Fatal(err)
	}
	if fm.Type != "file" || fm.Attachment.FLen != int64(len(data)) || fm.Attachment.DName != "report.pdf" {
		t.Fatalf("file message %+v", fm)
	}
	if _, err := ca.Send(ctx, fm.Outgoing(b, 0)); err != nil {
		t.Fatal(err)
	}
	m := msgNext(t, cb)
	var att protocol.Attachment
	if err := json.Unmarshal([]byte(m.Attachment), &att); err != nil || m.Type != "file" || m.From != a {
		t.Fatalf("received %+v (%v)", m, err)
	}
	var got bytes.Buffer
	if _, err := client.Download(ctx, &client.API{AppID: e.app, Token: e.userToken(b)}, att.URL, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("downloaded %d bytes, differ", got.Len())
	}
	// The message references the file: it is no orphan any more.
	if _, err := e.rdb.ZScore(ctx, store.FilesPendingKey(e.app), mustQuery(t, att.URL, "file_sign")).Result(); err == nil {
		t.Fatal("sent file still queued as an orphan")
	}
	// A third user's token cannot download it.
	c := rosUser(t, e, "ec", 0)
	if _, err := client.Download(ctx, &client.API{AppID: e.app, Token: e.userToken(c)}, att.URL, io.Discard); err == nil {
		t.Fatal("a stranger downloaded the file")
	}
}
