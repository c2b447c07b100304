package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/chatgate/chatgate/internal/auth"
)

// apiClient calls chatgate's REST API with an admin token minted from the
// app secret, acting as a user through the user_id header when asked.
type apiClient struct {
	base  string
	app   string
	token string
	hc    *http.Client
}

// apiError is a business error of the REST API (its envelope's code).
type apiError struct {
	Code    int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("code %d: %s", e.Code, e.Message) }

func newAPIClient(c Config, now time.Time) (*apiClient, error) {
	tok, err := auth.Issue([]byte(c.AppSecret), c.AppID, auth.RoleAdmin, 0, c.timeout()+time.Hour, now)
	if err != nil {
		return nil, fmt.Errorf("push: mint the admin token: %w", err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: pushSetupConcurrency, IdleConnTimeout: 30 * time.Second}
	return &apiClient{base: c.API, app: c.AppID, token: tok, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// call sends body as JSON and decodes the envelope's data into out (nil:
// ignored). uid, when not 0, is the user the admin token acts as.
func (a *apiClient) call(ctx context.Context, method, path string, uid int64, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("app_id", a.app)
	req.Header.Set("access-token", a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if uid != 0 {
		req.Header.Set("user_id", strconv.FormatInt(uid, 10))
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s: read the answer: %w", path, err)
	}
	var env struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d, not an API envelope: %.200s", path, resp.StatusCode, b)
	}
	if env.Code != 200 {
		return &apiError{Code: env.Code, Message: env.Message}
	}
	if out != nil && len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("%s: decode data: %w", path, err)
		}
	}
	return nil
}

// taskDetail returns the /push/task/detail object of one task.
func (a *apiClient) taskDetail(ctx context.Context, id int64) (map[string]any, error) {
	var out []map[string]any
	if err := a.call(ctx, "POST", "/push/task/detail", 0, map[string]any{"list": []int64{id}}, &out); err != nil {
		return nil, err
	}
	if len(out) != 1 {
		return nil, fmt.Errorf("task %d is unknown to /push/task/detail", id)
	}
	return out[0], nil
}

// waitReady waits up to d for the REST API to answer and to report FCM
// credentials for the app: a server started from the fake's push.yaml.
func (a *apiClient) waitReady(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		var out struct {
			AppKey string `json:"app_key"`
		}
		err := a.call(ctx, "GET", "/push/certificate?provider=7", 0, nil, &out)
		var ae *apiError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ae) && ae.Code != 12006:
			// Up, but refusing us (bad secret, unknown app): waiting will
			// not help.
			return fmt.Errorf("push: REST API %s: %w", a.base, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("push: REST API %s not ready with the app's FCM credentials after %v: %w", a.base, d, err)
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return fmt.Errorf("push: waiting for %s: %w", a.base, ctx.Err())
		}
	}
}
