package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/chatgate/chatgate/internal/auth"
	"github.com/chatgate/chatgate/store"
)

// Req is one authenticated request as a handler sees it.
type Req struct {
	// Ctx lives as long as the request; handlers pass it to the store.
	Ctx   context.Context
	HTTP  *fasthttp.RequestCtx
	App   *store.App
	Route *Route
	// Claims is nil for AccessPublic operations.
	Claims *auth.Claims
	// Admin is true for an admin token.
	Admin bool
	// UserID is the user the request acts as: the token's user, or the
	// user_id header of an admin token; 0 for an admin acting as the app.
	UserID int64
}

// User returns the acting user, or a 10002 error naming the user_id header
// when an admin token gave none.
func (r *Req) User() (int64, error) {
	if r.UserID == 0 {
		return 0, BadParam("user_id", "header required: this operation acts as a user and the admin token names none")
	}
	return r.UserID, nil
}

// RequireAdmin refuses a user token with 10010.
func (r *Req) RequireAdmin() error {
	if !r.Admin {
		return Errf(CodeNoPermission, "this operation needs an admin token")
	}
	return nil
}

func (r *Req) declared(name, typ string) error {
	p := r.Route.param(name)
	if p == nil || p.Type != typ {
		// A programming error: the OpenAPI document would be wrong.
		return fmt.Errorf("admin: %s reads undeclared %s query parameter %q", r.Route.Path, typ, name)
	}
	return nil
}

// query returns the raw value of a declared query parameter.
func (r *Req) query(name, typ string) (string, bool, error) {
	if err := r.declared(name, typ); err != nil {
		return "", false, err
	}
	args := r.HTTP.QueryArgs()
	if !args.Has(name) {
		return "", false, nil
	}
	return string(args.Peek(name)), true, nil
}

// QueryString returns a string query parameter; def when absent, and a
// 10002 error when the route declares it required and it is absent.
func (r *Req) QueryString(name, def string) (string, error) {
	v, ok, err := r.query(name, "string")
	switch {
	case err != nil:
		return "", err
	case !ok && r.Route.param(name).Required:
		return "", BadParam(name, "required")
	case !ok:
		return def, nil
	case !utf8.ValidString(v):
		return "", BadParam(name, "must be valid UTF-8")
	}
	return v, nil
}

// QueryInt64 returns an int64 query parameter, like QueryString.
func (r *Req) QueryInt64(name string, def int64) (int64, error) {
	return r.queryInt(name, "integer", 64, def)
}

// QueryInt32 returns an int32 query parameter, like QueryString.
func (r *Req) QueryInt32(name string, def int32) (int32, error) {
	v, err := r.queryInt(name, "int32", 32, int64(def))
	return int32(v), err
}

func (r *Req) queryInt(name, typ string, bits int, def int64) (int64, error) {
	v, ok, err := r.query(name, typ)
	switch {
	case err != nil:
		return 0, err
	case !ok && r.Route.param(name).Required:
		return 0, BadParam(name, "required")
	case !ok:
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
	if err != nil {
		return 0, BadParam(name, "must be an integer of %d bits, got %q", bits, clip(v))
	}
	return n, nil
}

// QueryBool returns a boolean query parameter (true/false/1/0), like
// QueryString.
func (r *Req) QueryBool(name string, def bool) (bool, error) {
	v, ok, err := r.query(name, "boolean")
	switch {
	case err != nil:
		return false, err
	case !ok && r.Route.param(name).Required:
		return false, BadParam(name, "required")
	case !ok:
		return def, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, BadParam(name, "must be true or false, got %q", clip(v))
	}
	return b, nil
}

// Bind decodes the JSON body into v, which must be a pointer to the route's
// declared Body type. An empty body is a 10002 error; so is a type
// mismatch, naming the field. Unknown fields are ignored, as Lanying does.
func (r *Req) Bind(v any) error {
	if r.Route.bodyType == nil || reflect.TypeOf(v) != reflect.PointerTo(r.Route.bodyType) {
		return fmt.Errorf("admin: %s binds %T, declared body %v", r.Route.Path, v, r.Route.bodyType)
	}
	body := bytes.TrimSpace(r.HTTP.PostBody())
	if len(body) == 0 {
		return BadParam("body", "a JSON body is required")
	}
	if err := checkUTF8(body); err != nil {
		return err
	}
	err := decodeBody(body, v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Value == "string" {
		// Ids may be decimal strings (idstring.go).
		if fixed, ok := idStringsToNumbers(body, r.Route.bodyType); ok {
			reflect.ValueOf(v).Elem().SetZero()
			err = decodeBody(fixed, v)
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errTrailing):
		return BadParam("body", "trailing data after the JSON value")
	default:
		return bodyError(err)
	}
}

var errTrailing = errors.New("trailing data")

// decodeBody decodes one JSON value into v and returns encoding/json's
// error, or errTrailing when more follows the value.
func decodeBody(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errTrailing
	}
	return nil
}

func bodyError(err error) *Error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return BadParam(field, "must be %s, got %s", jsonKind(te.Type), te.Value)
	case errors.As(err, &se):
		return BadParam("body", "malformed JSON at byte %d", se.Offset)
	default:
		return BadParam("body", "malformed JSON: %s", clip(err.Error()))
	}
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// clip keeps error messages short whatever the caller sent.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
