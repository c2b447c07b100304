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
func UploadFile(ctx context.Context, api *API, toUser, toGroup int64, path string) (*FileMessage, error) {
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
	if err := api.Call(ctx, http.MethodGet, "/file/upload/chat?"+q.Encode(), nil, &grant); err != nil {
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
func Download(ctx context.Context, api *API, attachmentURL string, w io.Writer) (int64, error) {
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
