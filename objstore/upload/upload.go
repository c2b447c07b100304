// Package upload sends a file to the upload URL chatgate's REST API hands
// out (upload_url, upload_method, oss_body_param), whichever backend made
// it: a PUT of the bytes (local backend) or a multipart POST of the policy
// fields followed by the file (S3 POST policy). It streams: the file is
// never read into memory whole. Clients (client/, the terminal client, the
// tests) use it; the server does not.
package upload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"
)

// Target is where a file goes, as the REST API answered it.
type Target struct {
	URL    string
	Method string            // PUT or POST
	Fields map[string]string // oss_body_param, POST only
}

// Send uploads size bytes of body (named name, of type ctype) to t and
// returns the storage's answer body on success (2xx).
func Send(ctx context.Context, hc *http.Client, t Target, body io.Reader, size int64, name, ctype string) ([]byte, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	var req *http.Request
	var err error
	switch strings.ToUpper(t.Method) {
	case http.MethodPut:
		req, err = http.NewRequestWithContext(ctx, http.MethodPut, t.URL, body)
		if err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
		req.ContentLength = size
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
	case http.MethodPost:
		head, tail, ctypeHdr, err := form(t.Fields, name)
		if err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, t.URL,
			io.MultiReader(bytes.NewReader(head), body, bytes.NewReader(tail)))
		if err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
		// S3 refuses a POST without a length, so the form is framed
		// around the streamed file instead of piped through a writer.
		req.ContentLength = int64(len(head)) + size + int64(len(tail))
		req.Header.Set("Content-Type", ctypeHdr)
	default:
		return nil, fmt.Errorf("upload: unknown upload method %q", t.Method)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return out, &Error{Status: resp.StatusCode, Body: string(out)}
	}
	return out, nil
}

// Error is a refusal by the storage.
type Error struct {
	Status int
	Body   string
}

func (e *Error) Error() string { return fmt.Sprintf("upload: HTTP %d: %.200s", e.Status, e.Body) }

// form returns the multipart framing around the file: the policy fields
// (sorted, for a stable body) and the file part's header, then the closing
// boundary. The file must be the last part (S3). No field is added: S3
// refuses a form field that the policy does not name.
func form(fields map[string]string, name string) (head, tail []byte, ctype string, err error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := mw.WriteField(k, fields[k]); err != nil {
			return nil, nil, "", err
		}
	}
	if name == "" {
		name = "file"
	}
	if _, err := mw.CreateFormFile("file", name); err != nil {
		return nil, nil, "", err
	}
	head = bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := mw.Close(); err != nil {
		return nil, nil, "", err
	}
	return head, bytes.Clone(buf.Bytes()), mw.FormDataContentType(), nil
}
