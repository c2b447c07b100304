package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// API is a small client of the server REST API for what a chat user does
// besides chatting (create a group, invite into it), acting with the
// user's own access token. Any HTTP client does the same; this one is
// here so that the terminal client and tests need no other library.
type API struct {
	// Base is the REST API's URL, e.g. http://127.0.0.1:8081.
	Base  string
	AppID string
	// Token is a user token (or an admin token with UserID).
	Token  string
	UserID int64
	// HTTP is the client to use; http.DefaultClient when nil.
	HTTP *http.Client
}

func (a *API) http() *http.Client {
	if a.HTTP != nil {
		return a.HTTP
	}
	return http.DefaultClient
}

func (a *API) headers(req *http.Request) {
	// Lanying's header names have underscores: set verbatim, not
	// canonicalised.
	req.Header["app_id"] = []string{a.AppID}
	req.Header["access-token"] = []string{a.Token}
	if a.UserID != 0 {
		req.Header["user_id"] = []string{strconv.FormatInt(a.UserID, 10)}
	}
}

// APIError is a REST answer whose envelope code is not 200.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("REST API code %d: %s", e.Code, e.Message) }

// maxAnswer bounds what Call reads of an answer.
const maxAnswer = 4 << 20

// Call sends body (JSON) with method to path and decodes the envelope's
// data into out (when not nil).
func (a *API) Call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("client: encode %s body: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.Base, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("client: %s: %w", path, err)
	}
	a.headers(req)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.http().Do(req)
	if err != nil {
		return fmt.Errorf("client: %s: %w", path, err)
	}
	defer res.Body.Close()
	var env struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, maxAnswer)).Decode(&env); err != nil {
		return fmt.Errorf("client: %s: HTTP %d, undecodable answer: %w", path, res.StatusCode, err)
	}
	if env.Code != 200 {
		return &APIError{Code: env.Code, Message: env.Message}
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("client: %s: decode data: %w", path, err)
		}
	}
	return nil
}

// CreateGroup creates a group owned by the token's user, with members
// added as /group/invite adds them, and returns its id.
func (a *API) CreateGroup(ctx context.Context, name string, members []int64) (int64, error) {
	body := map[string]any{"name": name}
	if len(members) > 0 {
		body["user_list"] = members
	}
	var info struct {
		GroupID int64 `json:"group_id"`
	}
	if err := a.Call(ctx, http.MethodPost, "/group/create", body, &info); err != nil {
		return 0, err
	}
	if info.GroupID <= 0 {
		return 0, fmt.Errorf("client: /group/create answered no group_id")
	}
	return info.GroupID, nil
}

// Invite invites users into group gid (they join at once unless their
// group_confirm setting asks them first).
func (a *API) Invite(ctx context.Context, gid int64, users []int64) error {
	return a.Call(ctx, http.MethodPost, "/group/invite", map[string]any{"group_id": gid, "user_list": users}, nil)
}
