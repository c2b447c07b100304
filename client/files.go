package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chatgate/chatgate/objstore/upload"
	"github.com/chatgate/chatgate/protocol"
)

// API names chatgate's REST API, which hands out upload URLs and answers
// downloads (files are not sent over the WebSocket).
type API struct {
	// BaseURL is the REST API, e.g. http://127.0.0.1:8081.
	BaseURL string
	AppID   string
	// Token is a user token (or an admin token with UserID).
	Token  string
	UserID int64
	// HTTP is the client to use; nil: http.DefaultClient.
	HTTP *http.Client
}

// FileMessage is a file ready to be sent: the message type (image, audio,
// video or file, from the file name's extension) and its attachment.
type FileMessage struct {
	Type       string
	Attachment protocol.Attachment
}

// Outgoing returns the message that carries the file.
func (f FileMessage) Outgoing(toUser, toGroup int64) Outgoing {
	b, _ := json.Marshal(f.Attachment)
	return Outgoing{ToUser: toUser, ToGroup: toGroup, Type: f.Type, Attachment: string(b)}
}

// fileKinds maps file name extensions to message types and Lanying's
// file_type of /file/upload/chat.
var fileKinds = map[string]struct {
	typ      string
	fileType int
}{
	".png": {"image", 102}, ".jpg": {"image", 102}, ".jpeg": {"image", 102}, ".gif": {"image", 102}, ".webp": {"image", 102},
	".amr": {"audio", 101}, ".mp3": {"audio", 104}, ".m4a": {"audio", 100}, ".ogg": {"audio", 100},
	".mp4": {"video", 103}, ".mov": {"video", 103}, ".webm": {"video", 103},
}

// UploadFile uploads the file at path for a message to toUser or toGroup:
// it asks the REST API for an upload URL (/file/upload/chat), streams the
// file to it, and returns the message to send. The file is never read
// into memory whole.
func UploadFile(ctx context.Context, api API, toUser, toGroup int64, path string) (*FileMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	kind, ok := fileKinds[strings.ToLower(filepath.Ext(path))]
	if !ok {
		kind.typ, kind.fileType = "file", 100
	}
	q := url.Values{"file_type": {strconv.Itoa(kind.fileType)}}
	if toGroup != 0 {
		q.Set("to_id", strconv.FormatInt(toGroup, 10))
		q.Set("to_type", "2")
	} else {
		q.Set("to_id", strconv.FormatInt(toUser, 10))
		q.Set("to_type", "1")
	}
	var grant struct {
		DownloadURL  string            `json:"download_url"`
		OSSBodyParam map[string]string `json:"oss_body_param"`
		UploadMethod string            `json:"upload_method"`
		UploadURL    string            `json:"upload_url"`
	}
	if err := api.get(ctx, "/file/upload/chat?"+q.Encode(), &grant); err != nil {
		return nil, err
	}
	if _, err := upload.Send(ctx, api.HTTP, upload.Target{URL: grant.UploadURL, Method: grant.UploadMethod, Fields: grant.OSSBodyParam},
		f, st.Size(), filepath.Base(path), ""); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &FileMessage{Type: kind.typ, Attachment: protocol.Attachment{URL: grant.DownloadURL, DName: filepath.Base(path), FLen: st.Size()}}, nil
}

// Download streams the file of an attachment URL into w: the REST API
// checks the token and redirects to the bytes.
func Download(ctx context.Context, api API, attachmentURL string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, attachmentURL, nil)
	if err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	api.headers(req)
	resp, err := api.http().Do(req)
	if err != nil {
		return 0, fmt.Errorf("client: download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return 0, fmt.Errorf("client: download: HTTP %d: %s", resp.StatusCode, b)
	}
	return io.Copy(w, resp.Body)
}

func (api API) http() *http.Client {
	if api.HTTP != nil {
		return api.HTTP
	}
	return http.DefaultClient
}

func (api API) headers(req *http.Request) {
	// Lanying's header names have underscores: set verbatim, not
	// canonicalised.
	req.Header["app_id"] = []string{api.AppID}
	req.Header["access-token"] = []string{api.Token}
	if api.UserID != 0 {
		req.Header["user_id"] = []string{strconv.FormatInt(api.UserID, 10)}
	}
}

// get calls a REST operation and decodes its data into v.
func (api API) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(api.BaseURL, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	api.headers(req)
	resp, err := api.http().Do(req)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	var env struct {
		Code    int             `json:"code"`
		Data    json.RawMessage `json:"data"`
		Message string          `json:"message"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env); err != nil {
		return fmt.Errorf("client: %s: HTTP %d: %w", path, resp.StatusCode, err)
	}
	if env.Code != 200 {
		return fmt.Errorf("client: %s: code %d: %s", path, env.Code, env.Message)
	}
	return json.Unmarshal(env.Data, v)
}
